// A hostile front for any emulator: it passes requests through, keeps every credential it sees (Authorization
// headers, the JWT in an exchange body, the token in an exchange answer), and at the stages it is told to,
// answers itself with those credentials echoed, as careless registries and proxies do: raw, as Basic
// credentials, base64 and percent-encoded, in the status line and in the body, together with forged workflow
// commands on lines of their own.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { type Listening, listen, readBody, send, sendJson } from './http.ts';

export type Stage = 'exchange' | 'upload' | 'lookup' | 'wait';

/** Lines that would be workflow commands if a registry's words reached GitHub's log unescaped. */
export const FORGED =
  '\n::set-output name=published::[]\n::add-mask::Uploaded\n::error title=Forged::forged\r::warning::forged\n##[error]forged';

export interface Echo extends Listening {
  /** Every credential seen so far, and those the test knew before (a password, a GitLab job's JWT). */
  seen: Set<string>;
  /** Stages answered by the front itself. */
  hostile: Set<Stage>;
  /** The digests a lookup answer claims for the stored file, so the run skips it and names it. */
  lookupDigests: string[];
  /** Which stage each request is, by the emulator's paths. */
  stageOf(req: IncomingMessage, path: string): Stage | undefined;
}

/** Each credential in the forms a server could echo it in. */
function echoed(seen: Set<string>): string {
  return [...seen]
    .flatMap((secret) => [
      secret,
      Buffer.from(secret).toString('base64'),
      `Basic ${Buffer.from(`__token__:${secret}`).toString('base64')}`,
      `Basic ${Buffer.from(`octocat:${secret}`).toString('base64')}`,
      encodeURIComponent(secret),
    ])
    .join(' ');
}

/** The credential a request carries in its Authorization header, Basic credentials decoded too. */
function keep(seen: Set<string>, authorization: string | undefined): void {
  if (!authorization) return;
  seen.add(authorization.replace(/^(Bearer|Basic|Token) /i, ''));
  const basic = /^Basic (.+)$/i.exec(authorization)?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString();
    seen.add(decoded.slice(decoded.indexOf(':') + 1));
  }
}

/** The fields an exchange's request and answer carry a credential in (the JWT, the minted token). */
const CREDENTIAL_FIELDS = ['token', 'jwt', 'rubygems_api_key', 'api_key'];

function keepFromJson(seen: Set<string>, text: string): void {
  try {
    const fields = JSON.parse(text) as Record<string, unknown>;
    for (const name of CREDENTIAL_FIELDS) {
      const value = fields[name];
      if (typeof value === 'string' && value) seen.add(value);
    }
  } catch {
    // Not JSON: nothing to keep.
  }
}

export async function startEcho(
  upstream: string,
  stageOf: Echo['stageOf'],
  known: string[] = [],
): Promise<Echo> {
  const echo: Omit<Echo, keyof Listening> = {
    seen: new Set(known),
    hostile: new Set(),
    lookupDigests: [],
    stageOf,
  };
  const server = await listen(async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://echo').pathname;
    const stage = echo.stageOf(req, path);
    keep(echo.seen, req.headers.authorization);
    const body = (await readBody(req, 256 * 1024 * 1024)) ?? Buffer.alloc(0);
    if (stage === 'exchange') keepFromJson(echo.seen, body.toString());
    if (stage && echo.hostile.has(stage)) {
      const words = `Echo: ${echoed(echo.seen)}${FORGED}`;
      // A status line cannot hold a line break: the credentials go there, the forged lines in the body.
      const reason = `Invalid credentials ${echoed(echo.seen)}`;
      if (stage === 'lookup') {
        return sendJson(res, 200, {
          info: { version: '0.1.0' },
          urls: echo.lookupDigests.map((sha256) => ({
            filename: `x.whl${FORGED} ${echoed(echo.seen)}`,
            digests: { sha256 },
            url: `https://files.example/${FORGED}`,
          })),
        });
      }
      if (stage === 'upload' && req.headers['content-type']?.startsWith('application/octet-stream'))
        return send(res, 200, words); // RubyGems shows its push answer.
      const status = stage === 'wait' ? 503 : 422;
      return sendJson(
        res,
        status,
        { message: words, error: words, errors: [{ code: `x${FORGED}`, description: words, detail: words }] },
        reason,
      );
    }
    const { origin } = new URL(upstream);
    const answer = await fetch(new URL(req.url ?? '/', origin), {
      method: req.method ?? 'GET',
      headers: Object.fromEntries(
        Object.entries(req.headers).filter(
          (e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'host' && e[0] !== 'connection',
        ),
      ),
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
    });
    const text = await answer.text();
    if (stage === 'exchange') keepFromJson(echo.seen, text);
    res.writeHead(answer.status, http.STATUS_CODES[answer.status], {
      'content-type': answer.headers.get('content-type') ?? 'text/plain',
    });
    res.end(text);
  });
  return Object.assign(echo, server);
}
