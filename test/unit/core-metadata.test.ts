import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metadataFormFields, parseCoreMetadata } from '../../src/artifacts/core-metadata.ts';

const METADATA = `Metadata-Version: 2.2
Name: Ünïcode-Pkg
Version: 1.0
Summary: Süßes Paket
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Requires-Dist: requests>=2
Requires-Dist: rich; extra == "cli"
Project-URL: Homepage, https://example.org
Project-URL: Source, https://example.org/src
Provides-Extra: cli
Dynamic: Requires-Dist
Description-Content-Type: text/markdown

# Title

Body with ünïcode.
`;

describe('core metadata', () => {
  it('keeps repeated headers in order and the body as the description', () => {
    const meta = parseCoreMetadata(METADATA);
    assert.deepEqual(
      meta.headers.filter(([k]) => k === 'Classifier').map(([, v]) => v),
      ['Programming Language :: Python :: 3', 'License :: OSI Approved :: MIT License'],
    );
    assert.equal(meta.body, '# Title\n\nBody with ünïcode.\n');
  });

  it('builds the form fields twine sends: singles always, multi-use fields repeated', () => {
    const fields = metadataFormFields(parseCoreMetadata(METADATA));
    const all = (name: string) => fields.filter(([k]) => k === name).map(([, v]) => v);
    assert.deepEqual(all('classifiers').length, 2);
    assert.deepEqual(all('requires_dist'), ['requests>=2', 'rich; extra == "cli"']);
    assert.deepEqual(all('project_urls'), [
      'Homepage, https://example.org',
      'Source, https://example.org/src',
    ]);
    assert.deepEqual(all('provides_extra'), ['cli']);
    assert.deepEqual(all('dynamic'), ['Requires-Dist']);
    assert.deepEqual(all('home_page'), ['']);
    assert.deepEqual(all('summary'), ['Süßes Paket']);
  });

  it('sends Metadata 2.4 license fields under the names Warehouse reads, and only for 2.4', () => {
    const license = (version: string) =>
      metadataFormFields(
        parseCoreMetadata(
          `Metadata-Version: ${version}\nName: x\nVersion: 1\nLicense-Expression: MIT\nLicense-File: LICENSE\nLicense-File: NOTICE\n`,
        ),
      ).filter(([k]) => k.startsWith('license'));
    assert.deepEqual(license('2.4'), [
      ['license', ''],
      ['license_expression', 'MIT'],
      ['license_file', 'LICENSE'],
      ['license_file', 'NOTICE'],
    ]);
    // setuptools wrote License-File into 2.1 metadata; Warehouse refuses the field there.
    assert.deepEqual(license('2.1'), [['license', '']]);
  });

  it('reads a Metadata 1.x description header as pkginfo does (8-space indent dropped)', () => {
    const meta = parseCoreMetadata(
      'Metadata-Version: 1.1\nName: old\nVersion: 1\nDescription: first line\n        second line\n        |third\n',
    );
    assert.equal(meta.body, 'first line\nsecond line\n|third');
    assert.equal(
      meta.headers.some(([k]) => k === 'Description'),
      false,
    );
  });
});
