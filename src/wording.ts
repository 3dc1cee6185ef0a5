/**
 * Messages name inputs the way a workflow step sets them ('skip-existing: true', the 'password' input). The
 * command rewrites those names to its flags as it prints them, so one text serves both.
 */
let rewrite = (text: string): string => text;

export const wording = {
  apply: (text: string): string => rewrite(text),
  /** From now on, every input named in a message is shown as the flag of the same name. */
  useFlags(names: readonly string[]): void {
    const alternatives = names.map((n) => n.replace(/[-]/g, '\\-')).join('|');
    const setting = new RegExp(`'(${alternatives}): ([^']*)'`, 'g');
    const input = new RegExp(`(?:the )?'(${alternatives})' input`, 'g');
    const bare = new RegExp(`'(${alternatives})'`, 'g');
    rewrite = (text) => text.replace(setting, '--$1 $2').replace(input, '--$1').replace(bare, '--$1');
  },
};
