/**
 * Entry of the `local` target's router process: `node router-main.js <environment folder>`.
 * Started detached by `ensureRouter`; logs to its stdout (the environment's `router.log`)
 * and runs until `POST /shutdown`, SIGTERM or SIGINT.
 */
import { Router } from './router.js';

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};

const dir = process.argv[2];
if (dir === undefined || dir === '') {
  log('usage: router-main.js <environment folder>');
  process.exitCode = 2;
} else {
  try {
    const router = await Router.start(dir, log);
    const stop = (): void => {
      void router.close();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    await router.whenStopped();
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    // Keep-alive sockets the proxy's peers hold must not keep a stopped router alive.
    setTimeout(() => process.exit(0), 2000).unref();
  } catch (error) {
    log(`router cannot start: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
