import { join } from 'node:path';
import { LbdrillError } from '../../errors.ts';
import { runToCompletion } from '../../process/managed-process.ts';

/** What to install when there is none: Debian 12's default JRE is OpenJDK 17. */
const JAVA_PACKAGE = 'default-jre-headless';

/**
 * The Java that allure-commandline's launcher runs (JAVA_HOME/bin/java, else `java` on PATH), as its
 * `-version` line; allure 2.x needs Java 8 or later. Throws LBDRILL_ERR_BINARY_MISSING when there is none.
 */
export async function requireJava(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const java = env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'java') : 'java';
  const where = env.JAVA_HOME ? `JAVA_HOME=${env.JAVA_HOME} has no bin/java` : 'no java on PATH';
  const missing = new LbdrillError('LBDRILL_ERR_BINARY_MISSING', `the Allure site needs Java 8 or later and ${where} (apt-get install ${JAVA_PACKAGE})`);
  try {
    const run = await runToCompletion(java, ['-version'], { env });
    if (run.code !== 0) throw missing;
    return run.output.split('\n')[0]?.trim() ?? java;
  } catch (err) {
    // spawn's ENOENT (no such file) lands here too
    throw err === missing ? err : new LbdrillError(missing.code, missing.message, { cause: err });
  }
}
