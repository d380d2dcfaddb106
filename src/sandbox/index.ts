// The sandbox: an emulated Instagram Graph API with simulated customers, for the demo and the tests.

export { SANDBOX_ACCOUNT_ID, sandboxChannelSettings } from './channel.ts';
export type { CustomerActionResult } from './inbound.ts';
export { CustomerAction, customerActs } from './inbound.ts';
export type { SandboxPluginOptions } from './plugin.ts';
export { sandboxPlugin } from './plugin.ts';
export type { SandboxServer, SandboxServerOptions } from './server.ts';
export { runSandboxServer } from './server.ts';
export type { OutboxEntry, SandboxOptions, SandboxState } from './state.ts';
export { createSandboxState } from './state.ts';
export { metaJson } from './wire.ts';
