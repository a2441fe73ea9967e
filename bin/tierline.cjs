#!/usr/bin/env node
// `npx tierline`: runs the TypeScript operator CLI through tsx, so there is no build step to forget.
// The AWS SDK prints a 9-line notice on every run under Node 20 (its releases after January 2027 need 22).
// npm scripts run Node 24 (the `node` devDependency); a bare `node` may still be 20, and the notice is noise there.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('../cli/main.ts').main();
