import type { Severity } from '../model/finding.js';
import type { RuleDescription } from './sarif.js';

export interface ScanRule extends RuleDescription {
  /** The severity the rule reports at; `varies` when the finding decides (advisories, typosquats, manifests). */
  readonly severity: Severity | 'varies';
}

const DOC = 'https://cairn.dev/docs/scan#';

function rule(id: string, severity: ScanRule['severity'], name: string, shortDescription: string): ScanRule {
  return { id, name, shortDescription, severity, helpUri: `${DOC}${id}` };
}

/** Every rule `cairn scan` reports, for SARIF and the docs (docs/scan.md lists the same ids). */
export const SCAN_RULES: readonly ScanRule[] = [
  rule(
    'osv-vulnerability',
    'varies',
    'KnownVulnerability',
    'An installed package version is affected by an OSV advisory (severity from CVSS v3.x, else the database).',
  ),
  rule('osv-malicious', 'critical', 'MaliciousPackage', 'An installed package version is reported as malware (MAL-* record or CWE-506).'),
  rule(
    'osv-unevaluable',
    'medium',
    'UnevaluableVersion',
    'A package has advisories, but its version or their ranges are not SemVer, so it could not be checked.',
  ),
  rule('lockfile-missing-integrity', 'high', 'MissingIntegrity', 'A registry or tarball package has no integrity (or berry checksum): nothing pins its bytes.'),
  rule('lockfile-invalid-integrity', 'high', 'InvalidIntegrity', 'An integrity value is not a well-formed SRI hash.'),
  rule('lockfile-weak-integrity', 'high', 'WeakIntegrity', 'A package is pinned only by sha1/sha256/sha384, not sha512 (an integrity downgrade).'),
  rule('lockfile-insecure-protocol', 'high', 'InsecureProtocol', 'A package is fetched over http or git://.'),
  rule('lockfile-disallowed-host', 'high', 'DisallowedHost', 'A registry tarball comes from a host outside the allow-list.'),
  rule('lockfile-name-mismatch', 'high', 'ResolvedNameMismatch', "A registry tarball URL names another package than the lockfile's entry."),
  rule('lockfile-version-mismatch', 'high', 'ResolvedVersionMismatch', "A registry tarball URL names another version than the lockfile's entry."),
  rule('lockfile-git-source', 'medium', 'GitSource', 'A package comes from a git repository.'),
  rule('lockfile-tarball-source', 'medium', 'TarballSource', 'A package comes from a tarball URL outside any registry.'),
  rule('lockfile-file-source', 'low', 'FileSource', 'A package comes from a local path.'),
  rule('lockfile-unknown-source', 'medium', 'UnknownSource', 'A package comes from a source cairn cannot classify.'),
  rule('lockfile-install-script', 'info', 'InstallScript', 'A package runs an install script (inventory).'),
  rule('lockfile-integrity-changed', 'critical', 'IntegrityChanged', 'The same name@version has another integrity than in the base revision (tampering).'),
  rule('lockfile-resolved-changed', 'high', 'ResolvedChanged', 'The same name@version resolves to another URL than in the base revision.'),
  rule('lockfile-new-install-script', 'high', 'NewInstallScript', 'A package runs an install script that its base-revision versions did not.'),
  rule('lockfile-new-non-registry-source', 'high', 'NewNonRegistrySource', 'A package newly comes from git, a tarball URL or a local path.'),
  rule('lockfile-multiple', 'low', 'SeveralLockfiles', 'The project has more than one lockfile; only the first by precedence is scanned.'),
  rule('typosquat-candidate', 'varies', 'TyposquatCandidate', 'A package name is one edit, a separator, a homoglyph or a scope typo away from a popular name.'),
  rule('dependency-confusion', 'critical', 'DependencyConfusion', 'A name declared private (scope or name) resolves from a public registry or the wrong one.'),
  rule(
    'registry-integrity-mismatch',
    'critical',
    'RegistryIntegrityMismatch',
    "The lockfile's integrity differs from the registry metadata's (forged lockfile entry).",
  ),
  rule('registry-version-missing', 'high', 'RegistryVersionMissing', 'The registry metadata has no such version.'),
  rule('registry-release-too-new', 'high', 'ReleaseTooNew', 'A new version was published less than the minimum release age ago.'),
  rule('registry-metadata-missing', 'info', 'RegistryMetadataMissing', 'The registry snapshot lacks packuments for some packages, which were not compared.'),
  rule('manifest-confusion', 'varies', 'ManifestConfusion', "The tarball's package.json differs from the registry metadata (scripts, dependencies, bin, gyp)."),
  rule('baseline-expired', 'low', 'BaselineExpired', 'A baseline entry has expired; the findings it covered are reported again.'),
  rule('baseline-unused', 'info', 'BaselineUnused', 'A baseline entry matches no finding.'),
];

export const SCAN_RULE_IDS: ReadonlySet<string> = new Set(SCAN_RULES.map((r) => r.id));
