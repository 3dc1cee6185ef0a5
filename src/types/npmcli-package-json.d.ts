// The part of @npmcli/package-json (which ships no types) that reads a package as npm publish does.
declare module '@npmcli/package-json' {
  interface StepOptions {
    steps?: readonly string[];
  }
  export default class PackageJson {
    static readonly prepareSteps: readonly string[];
    static prepare(path: string, opts?: StepOptions): Promise<PackageJson>;
    fromContent(data: object): PackageJson;
    normalize(opts?: StepOptions): Promise<PackageJson>;
    readonly content: Record<string, unknown>;
  }
}
