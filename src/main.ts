import { readInputs } from './inputs.ts';
import { run } from './run.ts';

await run(() => readInputs());
