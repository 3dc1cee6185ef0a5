import { ciFor } from './ci/index.ts';
import { readInputs } from './inputs.ts';
import { outputTo } from './output.ts';
import { run } from './run.ts';

const ci = ciFor(process.env);
outputTo(ci);
await run(ci, () => readInputs());
