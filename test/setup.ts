import fc from 'fast-check';

// CI runs the properties from a fixed seed so a run is repeatable; on a developer's machine
// every run explores new cases. A failure prints its seed: FC_SEED=<seed> npm test replays it.
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : process.env.CI ? 20261121 : undefined;
if (seed !== undefined) fc.configureGlobal({ seed });
