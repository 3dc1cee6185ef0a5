import { randomBytes } from 'node:crypto';
import { fileChunks } from './file-chunks.ts';
import type { RequestBody } from './http.ts';

/**
 * A multipart/form-data body: text fields, then one file streamed from disk, with its length known up
 * front. Written here rather than with a FormData encoder because those normalise every newline in a
 * value to CRLF (as HTML forms do), which would change package descriptions; upload clients send values
 * as they are.
 */
export function multipartBody(
  fields: [string, string][],
  file: { field: string; filename: string; path: string; size: number; contentType: string },
): RequestBody {
  const boundary = `----trusted-publish-${randomBytes(16).toString('hex')}`;
  const quoted = (value: string) =>
    `"${value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
  const parts = fields.map(
    ([name, value]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`,
  );
  const head = Buffer.from(
    `${parts.join('')}--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.field)}; filename=${quoted(file.filename)}\r\nContent-Type: ${file.contentType}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
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
