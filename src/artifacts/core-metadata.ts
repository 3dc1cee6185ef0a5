/**
 * Python core metadata (METADATA / PKG-INFO): RFC 822-style headers, then the description as the body.
 * No maintained JavaScript library reads this format, and the subset packaging tools write is small.
 */
export interface CoreMetadata {
  /** Every header in file order, repeated ones kept, continuation lines unfolded. */
  headers: [string, string][];
  /** The message body (the long description), or '' when there is none. */
  body: string;
}

export function parseCoreMetadata(text: string): CoreMetadata {
  const normalized = text.replace(/\r\n?/g, '\n');
  const headerEnd = normalized.search(/\n\n|$/);
  const headerBlock = normalized.slice(0, headerEnd);
  let body = headerEnd < normalized.length ? normalized.slice(headerEnd + 2) : '';
  const headers: [string, string][] = [];
  for (const line of headerBlock.split('\n')) {
    const last = headers[headers.length - 1];
    if (/^[ \t]/.test(line) && last) {
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  const description = headers.find(([key]) => key.toLowerCase() === 'description');
  if (description && !body) body = unfoldDescription(description[1]);
  return { headers: headers.filter(([key]) => key.toLowerCase() !== 'description'), body };
}

/** Metadata 1.x put the description in a header; like pkginfo (twine's reader), drop 8-space indents. */
function unfoldDescription(value: string): string {
  return value
    .trim()
    .split('\n')
    .map((line) => (line.startsWith(' '.repeat(8)) ? line.slice(8) : line))
    .join('\n');
}

export function header(meta: CoreMetadata, name: string): string | undefined {
  const lower = name.toLowerCase();
  return meta.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

export function headers(meta: CoreMetadata, name: string): string[] {
  const lower = name.toLowerCase();
  return meta.headers.filter(([key]) => key.toLowerCase() === lower).map(([, value]) => value);
}

/** Fields sent once; twine sends them empty when the file lacks them, and so do we. */
const SINGLE_FIELDS: [string, string][] = [
  ['Metadata-Version', 'metadata_version'],
  ['Summary', 'summary'],
  ['Home-page', 'home_page'],
  ['Author', 'author'],
  ['Author-email', 'author_email'],
  ['Maintainer', 'maintainer'],
  ['Maintainer-email', 'maintainer_email'],
  ['License', 'license'],
  ['Keywords', 'keywords'],
  ['Download-URL', 'download_url'],
  ['Requires-Python', 'requires_python'],
  ['Description-Content-Type', 'description_content_type'],
];

/**
 * Metadata 2.4 fields, sent only for 2.4 and later: Warehouse refuses them under older versions, and
 * setuptools wrote License-File into 2.1/2.2 metadata for years.
 */
const METADATA_2_4_FIELDS: [string, string][] = [
  ['License-Expression', 'license_expression'],
  ['License-File', 'license_file'],
];

/** Multiple-use fields, one form part per occurrence, under the names twine 6 sends and Warehouse reads. */
const MULTI_FIELDS: [string, string][] = [
  ['Platform', 'platform'],
  ['Classifier', 'classifiers'],
  ['Supported-Platform', 'supported_platform'],
  ['Provides', 'provides'],
  ['Requires', 'requires'],
  ['Obsoletes', 'obsoletes'],
  ['Project-URL', 'project_urls'],
  ['Provides-Dist', 'provides_dist'],
  ['Obsoletes-Dist', 'obsoletes_dist'],
  ['Requires-Dist', 'requires_dist'],
  ['Requires-External', 'requires_external'],
  ['Provides-Extra', 'provides_extra'],
  ['Dynamic', 'dynamic'],
];

/** The upload form's metadata fields, as twine builds them from the same file. */
export function metadataFormFields(meta: CoreMetadata): [string, string][] {
  const fields: [string, string][] = [];
  for (const [headerName, field] of SINGLE_FIELDS) fields.push([field, header(meta, headerName) ?? '']);
  fields.push(['description', meta.body]);
  const [major = 0, minor = 0] = (header(meta, 'Metadata-Version') ?? '').split('.').map(Number);
  const modern = major > 2 || (major === 2 && minor >= 4);
  for (const [headerName, field] of [...MULTI_FIELDS, ...(modern ? METADATA_2_4_FIELDS : [])]) {
    for (const value of headers(meta, headerName)) fields.push([field, value]);
  }
  return fields;
}
