/**
 * An action's raw stdout as GitHub's log page shows it to a person: workflow commands carried out, masked
 * values replaced by ***. The sandbox prints through this, so what it shows is what a user would see.
 */

export interface RunnerLogOptions {
  /** Step debug logging (the runner sets RUNNER_DEBUG=1): shows `::debug::` lines. */
  debug?: boolean;
}

const ANNOTATION_LABELS: Record<string, string> = { error: 'Error', warning: 'Warning', notice: 'Notice' };
const GROUP_INDENT = '  ';

/** Undoes @actions/core's escaping of a command's message (`%25`, `%0D`, `%0A`). */
function unescapeData(data: string): string {
  return data.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/** `::name key=value,…::message`, or undefined for a line that is not a workflow command. */
function parseCommand(line: string): { name: string; message: string } | undefined {
  const match = line.match(/^::([A-Za-z-]+)(?: [^:]*)?::(.*)$/s);
  if (!match?.[1]) return undefined;
  return { name: match[1], message: unescapeData(match[2] ?? '') };
}

/**
 * Every form in which the runner hides a registered value (its HostContext value encoders): the value,
 * its base64 from three byte offsets (so it is hidden inside base64 of `user:value` too), and its JSON-,
 * URI- and XML-escaped forms.
 */
function maskedForms(value: string): string[] {
  const bytes = Buffer.from(value);
  const base64 = [0, 1, 2].map((shift) =>
    (bytes.length > shift ? bytes.subarray(shift) : bytes).toString('base64'),
  );
  const uri = encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  const xml = value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
  const forms = [value, ...base64, JSON.stringify(value).slice(1, -1), uri, xml];
  return [...new Set(forms.filter(Boolean))];
}

/** Replaces every stretch covered by a masked form with ***, overlapping matches as one, as the runner does. */
function mask(line: string, forms: string[]): string {
  const hidden: [number, number][] = [];
  for (const form of forms) {
    for (let at = line.indexOf(form); at !== -1; at = line.indexOf(form, at + 1)) {
      hidden.push([at, at + form.length]);
    }
  }
  if (hidden.length === 0) return line;
  hidden.sort((a, b) => a[0] - b[0]);
  let shown = '';
  let from = 0;
  for (const [start, end] of hidden) {
    if (start >= from) {
      shown += `${line.slice(from, start)}***`;
      from = end;
    } else if (end > from) {
      from = end;
    }
  }
  return shown + line.slice(from);
}

export function renderRunnerLog(stdout: string, options: RunnerLogOptions = {}): string {
  const lines = stdout.replace(/\n$/, '').split(/\r?\n/);
  // The runner hides a value only from its ::add-mask:: on; a value shown before that is a leak, which
  // findLeaks reports. Hiding it everywhere here keeps the demo free of tokens either way.
  const forms = lines.flatMap((line) => {
    const command = parseCommand(line);
    return command?.name === 'add-mask' && command.message ? maskedForms(command.message) : [];
  });
  const shown: string[] = [];
  let indent = '';
  const show = (text: string) => {
    for (const line of text.split(/\r?\n/)) shown.push(indent + mask(line, forms));
  };
  for (const line of lines) {
    const command = parseCommand(line);
    if (!command) {
      show(line);
      continue;
    }
    const label = ANNOTATION_LABELS[command.name];
    if (label) show(`${label}: ${command.message}`);
    else if (command.name === 'debug') {
      if (options.debug) show(`Debug: ${command.message}`);
    } else if (command.name === 'group') {
      // GitHub does not nest groups: a new one closes the open one.
      indent = '';
      show(`▾ ${command.message}`);
      indent = GROUP_INDENT;
    } else if (command.name === 'endgroup') indent = '';
    else if (command.name !== 'add-mask') show(line);
  }
  return shown.join('\n');
}
