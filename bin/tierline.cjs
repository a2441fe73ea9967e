#!/usr/bin/env node
// `npx tierline`: runs the TypeScript operator CLI through tsx, so there is no build step to forget.
require('tsx/cjs');
require('../cli/main.ts').main();
