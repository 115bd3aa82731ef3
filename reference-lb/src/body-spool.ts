import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { LbError } from './errors.ts';

/** Where and how much to buffer. */
export interface SpoolOptions {
  /** Bytes kept in memory before the body spills to a temp file. */
  memoryBytes: number;
  /** Directory for spill files; default the OS temp dir. */
  tempDir: string | undefined;
  /** Reject with LB_ERR_BODY_TOO_LARGE past this many bytes; 0 = unlimited. */
  maxBytes: number;
}

/**
 * A whole body read ahead of time (request or response buffering): chunks in memory,
 * or a temp file once it outgrows `memoryBytes`. It can be read any number of times,
 * which also makes a buffered request body safe to retry.
 */
export class BodySpool {
  readonly length: number;
  private readonly chunks: readonly Buffer[] | undefined;
  private readonly file: string | undefined;

  private constructor(length: number, chunks: readonly Buffer[] | undefined, file: string | undefined) {
    this.length = length;
    this.chunks = chunks;
    this.file = file;
  }

  /** Reads `source` to its end. */
  static async collect(source: Readable, options: SpoolOptions): Promise<BodySpool> {
    const chunks: Buffer[] = [];
    let length = 0;
    let file: string | undefined;
    let out: WriteStream | undefined;
    try {
      // destroyOnReturn false: a rejected body must not take the client connection (and the 413) with it.
      for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        length += chunk.length;
        if (options.maxBytes > 0 && length > options.maxBytes) {
          throw new LbError('LB_ERR_BODY_TOO_LARGE', `body exceeds ${options.maxBytes} bytes`);
        }
        if (out === undefined && length > options.memoryBytes) {
          file = path.join(options.tempDir ?? tmpdir(), `reference-lb-${process.pid}-${randomBytes(6).toString('hex')}.spool`);
          out = createWriteStream(file, { flags: 'wx' });
          for (const c of chunks) out.write(c);
          chunks.length = 0;
        }
        if (out === undefined) chunks.push(chunk);
        else if (!out.write(chunk)) await once(out, 'drain');
      }
      if (out) {
        out.end();
        await once(out, 'finish');
      }
    } catch (err) {
      out?.destroy();
      if (file) await rm(file, { force: true });
      if (err instanceof LbError) throw err;
      throw new LbError('LB_ERR_SPOOL', `buffering a body failed: ${(err as Error).message}`, { cause: err });
    }
    return new BodySpool(length, file === undefined ? chunks : undefined, file);
  }

  /** A fresh stream of the whole body. */
  createReadStream(): Readable {
    if (this.file !== undefined) return createReadStream(this.file, { highWaterMark: 256 * 1024 });
    return Readable.from(this.chunks ?? [], { objectMode: false });
  }

  /** Removes the temp file, if any. */
  async dispose(): Promise<void> {
    if (this.file !== undefined) await rm(this.file, { force: true });
  }
}
