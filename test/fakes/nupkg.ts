import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';

export interface NupkgSpec {
  id: string;
  version: string;
  /** A .snupkg: the SymbolsPackage type, no authors, a .pdb instead of the .dll (as nuget.org requires). */
  symbols?: boolean;
  /** The file's name; default `<id>.<version>.nupkg|.snupkg` as written in the spec. */
  fileName?: string;
  /** The whole .nuspec, replacing the generated one (bytes for other encodings). */
  nuspec?: string | Buffer;
  /** Where the .nuspec goes in the zip; default `<id>.nuspec` at the root. */
  nuspecPath?: string;
  /** Other members, e.g. a second .nuspec. */
  extraFiles?: [string, string][];
}

// Fixed timestamps and content derived from the spec: the same spec always gives the same bytes.
const MTIME = new Date('2024-01-01T00:00:00Z');

const xmlText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The .nuspec `dotnet pack` writes for a library (or its symbol package). */
export function nuspecXml(spec: NupkgSpec): string {
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">',
    '  <metadata>',
    `    <id>${xmlText(spec.id)}</id>`,
    `    <version>${xmlText(spec.version)}</version>`,
    // nuget.org refuses authors (personal data) in symbol packages; pack leaves them empty there.
    spec.symbols ? '    <authors></authors>' : '    <authors>Sample Author</authors>',
    '    <description>A generated package used to test trusted publishing</description>',
    ...(spec.symbols
      ? ['    <packageTypes>', '      <packageType name="SymbolsPackage" />', '    </packageTypes>']
      : [
          '    <license type="expression">MIT</license>',
          '    <dependencies>',
          '      <group targetFramework="net8.0" />',
          '    </dependencies>',
        ]),
    '  </metadata>',
    '</package>',
    '',
  ];
  return lines.join('\n');
}

/** Writes a .nupkg/.snupkg laid out as `dotnet pack` does (OPC parts included) into `dir`; returns its path. */
export async function makeNupkg(dir: string, spec: NupkgSpec): Promise<string> {
  const extension = spec.symbols ? 'snupkg' : 'nupkg';
  const nuspecPath = spec.nuspecPath ?? `${spec.id}.nuspec`;
  const seed = createHash('sha256').update(`${spec.id} ${spec.version} ${extension}`).digest();
  const props = `${seed.toString('hex').slice(0, 32)}.psmdcp`;
  const binary = spec.symbols ? `lib/net8.0/${spec.id}.pdb` : `lib/net8.0/${spec.id}.dll`;
  const contentTypes =
    '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />' +
    '<Default Extension="psmdcp" ContentType="application/vnd.openxmlformats-package.core-properties+xml" />' +
    `<Default Extension="${spec.symbols ? 'pdb' : 'dll'}" ContentType="application/octet" />` +
    '<Default Extension="nuspec" ContentType="application/octet" /></Types>';
  const rels =
    '<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
    `<Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/${nuspecPath}" Id="R1" />` +
    `<Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="/package/services/metadata/core-properties/${props}" Id="R2" /></Relationships>`;
  const coreProperties =
    '<?xml version="1.0" encoding="utf-8"?><coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" ' +
    'xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">' +
    `<dc:identifier>${xmlText(spec.id)}</dc:identifier><version>${xmlText(spec.version)}</version></coreProperties>`;
  const files: [string, Buffer][] = [
    ['_rels/.rels', Buffer.from(rels)],
    [nuspecPath, Buffer.isBuffer(spec.nuspec) ? spec.nuspec : Buffer.from(spec.nuspec ?? nuspecXml(spec))],
    [binary, Buffer.concat([Buffer.from('MZ'), seed, seed])],
    [`package/services/metadata/core-properties/${props}`, Buffer.from(coreProperties)],
    ['[Content_Types].xml', Buffer.from(contentTypes)],
    ...(spec.extraFiles ?? []).map(([name, text]): [string, Buffer] => [name, Buffer.from(text)]),
  ];
  const zip = new ZipFile();
  for (const [name, data] of files) zip.addBuffer(data, name, { mtime: MTIME });
  zip.end();
  const path = join(dir, spec.fileName ?? `${spec.id}.${spec.version}.${extension}`);
  await pipeline(zip.outputStream, createWriteStream(path));
  return path;
}
