import { afterAll } from 'vitest';
import { dropFolderDatabases } from './service.ts';

// The igdm-postgres project's setup file (vitest.config.ts): runs for every test file, so each
// file's service databases are dropped when it ends.
afterAll(dropFolderDatabases);
