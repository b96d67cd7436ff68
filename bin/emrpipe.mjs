#!/usr/bin/env node
// Launcher of the operator CLI (cli/index.ts), loaded through tsx so no build step is needed.
import { createRequire } from 'node:module';

// The SDK's Node 20 support notice is noise for operators; set the variable to "false" to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const require = createRequire(import.meta.url);
const tsx = require('tsx/cjs/api');
const { main } = tsx.require('../cli/index.ts', import.meta.url);
process.exitCode = await main(process.argv.slice(2));
