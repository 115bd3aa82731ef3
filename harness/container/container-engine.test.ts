import { describe, expect, it } from 'vitest';
import { ContainerEngine, pingDockerApi } from './container-engine.ts';

describe('pingDockerApi', () => {
  it('is false where nothing answers, for any scheme', async () => {
    expect(await pingDockerApi('unix:///nonexistent/docker.sock')).toBe(false);
    expect(await pingDockerApi('tcp://127.0.0.1:1')).toBe(false);
    expect(await pingDockerApi('ssh://somewhere')).toBe(false);
    expect(await pingDockerApi('not a url')).toBe(false);
  });
});

describe('ContainerEngine', () => {
  it('starts its own Podman service when DOCKER_HOST does not answer, serves the Docker API on it, and stops it', async () => {
    const given = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = 'unix:///nonexistent/docker.sock';
    try {
      const engine = await ContainerEngine.start();
      expect(engine.description).toMatch(/^podman system service on \/.*lbdrill-podman-\d+\.sock \(started by lbdrill\)$/);
      expect(process.env['TESTCONTAINERS_RYUK_DISABLED']).toBe('true');
      const socket = process.env['DOCKER_HOST']!;
      expect(await pingDockerApi(socket)).toBe(true);
      // runc and the ulimits of the repo's containers.conf are what the service runs with
      expect(engine.client.info.containerRuntime.runtimes).toContain('runc');
      await engine[Symbol.asyncDispose]();
      expect(await pingDockerApi(socket)).toBe(false);
    } finally {
      if (given === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = given;
    }
  }, 60_000);
});
