import { readInputs } from './inputs.ts';
import { publish } from './publish.ts';
import { report } from './report.ts';

try {
  const outcome = await publish(readInputs());
  await report(outcome.results, outcome.failure, outcome.summary);
} catch (failure) {
  await report([], failure, []);
}
