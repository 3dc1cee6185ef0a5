import type { CauseKind } from './types.ts';

/**
 * A failure the user can act on. It carries what went wrong, the likely cause and the fix, so the report
 * can print all three in one place and never a stack trace.
 */
export class ActionError extends Error {
  readonly cause_: string | undefined;
  readonly fix: string | undefined;
  /** Extra lines (claims, publisher form values) shown after the message; callers may add to them. */
  readonly details: string[];
  /** The failure depends on how the trusted publisher is registered: show the claims and form values. */
  readonly aboutPublisher: boolean;
  /** The registry's answer names the cause, so no list of possible causes is shown. */
  readonly causeProven: boolean;
  /** The kinds of cause the registry's answer leaves possible; all that the claims allow when undefined. */
  readonly possibleCauses: readonly CauseKind[] | undefined;
  /** The registry refused the token itself (expired or revoked): a freshly exchanged one may pass. */
  readonly tokenRefused: boolean;
  /** The claims and form values were added already (an error can pass two handlers on its way out). */
  explained = false;

  constructor(
    message: string,
    opts: {
      cause?: string;
      fix?: string;
      details?: string[];
      aboutPublisher?: boolean;
      causeProven?: boolean;
      possibleCauses?: readonly CauseKind[];
      tokenRefused?: boolean;
    } = {},
  ) {
    super(message);
    this.name = 'ActionError';
    this.cause_ = opts.cause;
    this.fix = opts.fix;
    this.details = opts.details ?? [];
    this.aboutPublisher = opts.aboutPublisher ?? false;
    this.causeProven = opts.causeProven ?? false;
    this.possibleCauses = opts.possibleCauses;
    this.tokenRefused = opts.tokenRefused ?? false;
  }

  /** The text shown to the user: message, likely cause, fix, then details. */
  explain(): string {
    const lines = [this.message];
    if (this.cause_) lines.push(`Likely cause: ${this.cause_}`);
    if (this.fix) lines.push(`Fix: ${this.fix}`);
    return [...lines, ...this.details].join('\n');
  }
}

/**
 * A refused upload that none of the registry's known answers explains: a 5xx is the fault of `server` (e.g.
 * 'The index') and worth a re-run; any other status is about what was sent, which `sent` explains.
 */
export function unexplainedRefusal(
  message: string,
  status: number,
  server: string,
  sent: { cause: string; fix: string },
): ActionError {
  return new ActionError(
    message,
    status >= 500 ? { cause: `${server} had a fault.`, fix: 'Re-run the job.' } : sent,
  );
}
