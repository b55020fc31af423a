import { httpSpec } from './http.js';
import { textSpec } from './text.js';
import type { DissectorSpec } from './types.js';
import { websocketSpec } from './websocket.js';

/**
 * Every dissector sockstat knows, in the order their probes are asked. Dissectors never
 * import each other: HTTP reaches WebSocket through ctx.handoff('websocket').
 */
export const DISSECTORS: readonly DissectorSpec[] = [httpSpec, websocketSpec];

/** Takes a connection no probe claimed. */
export const FALLBACK: DissectorSpec = textSpec;
