import { randomBytes } from 'node:crypto';
import { fileChunks } from './file-chunks.ts';
import type { RequestBody } from './http.ts';

/**
 * A multipart/form-data body: text fields, then one file streamed from disk (with headers of its own where the
 * registry reads them from the part), then `after` fields, with its length known up front. Written here rather than with a FormData encoder because those normalise every newline in a
 * value to CRLF (as HTML forms do), which would change package descriptions; upload clients send values
 * as they are.
 */
export function multipartBody(
  fields: [string, string][],
  file: {
    field: string;
    filename: string;
    path: string;
    size: number;
    contentType: string;
    headers?: Record<string, string>;
  },
  /** Fields after the file; a third element is the part's Content-Type (gem push marks its JSON part so). */
  after: [string, string, string?][] = [],
): RequestBody {
  const boundary = `----trusted-publish-${randomBytes(16).toString('hex')}`;
  const quoted = (value: string) =>
    `"${value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
  const parts = (list: [string, string, string?][]) =>
    list
      .map(
        ([name, value, type]) =>
          `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n${value}\r\n`,
      )
      .join('');
  const fileHeaders = Object.entries(file.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const head = Buffer.from(
    `${parts(fields)}--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.field)}; filename=${quoted(file.filename)}\r\nContent-Type: ${file.contentType}\r\n${fileHeaders}\r\n`,
  );
  const tail = Buffer.from(`\r\n${parts(after)}--${boundary}--\r\n`);
  async function* stream(): AsyncGenerator<Uint8Array> {
    yield head;
    yield* fileChunks(file.path);
    yield tail;
  }
  return {
    length: head.length + file.size + tail.length,
    data: stream(),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
