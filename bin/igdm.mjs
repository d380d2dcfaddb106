#!/usr/bin/env node
// The CLI entry. The sources are TypeScript run by Node's type stripping (Node >= 22.18 / 24).
import '../src/cli/main.ts';
