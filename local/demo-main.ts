import { runDemo } from './demo';

/** Entry of `npm run demo` (scripts/demo.sh). Exit 0 only when every pipeline run showed what it must. */
runDemo({ sequential: process.argv.includes('--sequential') })
  .then((result) => {
    process.exitCode = result.ok ? 0 : 1;
  })
  .catch((error: Error) => {
    process.stderr.write(`\nDemo failed: ${error.message}\n`);
    process.exitCode = 1;
  });
