import { ciFor } from './ci/index.ts';
import { readInputs } from './inputs.ts';
import { logTo } from './log.ts';
import { run } from './run.ts';

const ci = ciFor(process.env);
logTo(ci.log);
await run(ci, () => readInputs());
