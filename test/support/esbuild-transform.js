const { transformSync } = require('esbuild');

/** Minimal Jest transformer: TypeScript → CommonJS with esbuild (type checking is `npm run build`). */
module.exports = {
  process(source, filename) {
    const result = transformSync(source, {
      loader: filename.endsWith('x') ? 'tsx' : 'ts',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: filename,
    });
    return { code: result.code };
  },
};
