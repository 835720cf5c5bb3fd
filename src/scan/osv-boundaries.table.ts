/**
 * Boundary versions for the real npm OSV records in `../shared/data/osv-npm` (GitHub
 * Advisory Database, CC-BY-4.0; see src/scan/NOTICE.md), computed by hand from each
 * record's `affected[]` ranges and `versions` lists under the OSV schema's rules: below and
 * at `introduced`, its prereleases, the last versions before `fixed`, prereleases of
 * `fixed`, `fixed` itself, and the gaps between backport lines. The records themselves are
 * not in this repository; osv.test.ts reads them and checks every row.
 *
 * `affected` / `unaffected` are what the record's ranges say for that npm package name,
 * whether or not such a version was ever published. A withdrawn record keeps its rows (the
 * ranges still say so) and is marked, since the matcher must never report it.
 */
export interface BoundaryRow {
  readonly package: string;
  readonly affected: readonly string[];
  readonly unaffected: readonly string[];
}

export interface BoundaryCase {
  readonly rows: readonly BoundaryRow[];
  readonly withdrawn?: true;
  /** Reported as malware (CWE-506): the finding is `osv-malicious`, critical. */
  readonly malicious?: true;
  /** The severity cairn derives (CVSS v3.x base score, else database_specific). */
  readonly severity: 'critical' | 'high' | 'medium' | 'low';
}

export const OSV_BOUNDARIES: Readonly<Record<string, BoundaryCase>> = {
  'GHSA-27h2-hvpr-p74q': {
    withdrawn: true,
    severity: 'high',
    rows: [{ package: 'jsonwebtoken', affected: ['0.0.1', '8.5.1', '9.0.0-beta.1'], unaffected: ['9.0.0', '9.0.1'] }],
  },
  'GHSA-35jh-r3h4-6jhm': {
    severity: 'high', // CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H = 7.2
    rows: [
      { package: 'lodash', affected: ['0.1.0', '4.17.20', '4.17.21-rc.0'], unaffected: ['4.17.21', '5.0.0'] },
      { package: 'lodash-es', affected: ['4.17.20'], unaffected: ['4.17.21'] },
    ],
  },
  'GHSA-3h5v-q93c-6h6q': {
    severity: 'high', // 7.5
    rows: [
      {
        package: 'ws',
        affected: ['2.1.0', '5.2.3', '6.0.0', '6.2.2', '7.0.0', '7.5.9', '8.0.0', '8.17.0', '8.17.1-beta.0'],
        unaffected: ['2.0.9', '2.1.0-rc.1', '5.2.4', '5.3.0', '6.0.0-beta.1', '6.2.3', '7.5.10', '8.17.1', '9.0.0'],
      },
    ],
  },
  'GHSA-43f8-2h32-f4cj': {
    severity: 'medium', // 5.3
    rows: [{ package: 'hosted-git-info', affected: ['1.0.0', '2.8.8', '3.0.0', '3.0.7'], unaffected: ['2.8.9', '3.0.0-rc.1', '3.0.8', '4.0.0'] }],
  },
  'GHSA-5rqg-jm4f-cqx7': {
    severity: 'high', // no CVSS: database_specific HIGH
    rows: [
      {
        package: 'colors',
        affected: ['1.4.1', '1.4.2', '1.4.2-rc.1', '1.4.44-liberty-2'],
        unaffected: ['1.4.0', '1.4.1-rc.1', '1.4.3', '1.4.44', '1.4.44-liberty-1'],
      },
    ],
  },
  'GHSA-67hx-6x53-jw92': {
    severity: 'critical', // CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H = 9.3
    rows: [
      {
        package: '@babel/traverse',
        affected: ['7.0.0', '7.23.1', '7.23.2-rc.0', '8.0.0-alpha.0', '8.0.0-alpha.3'],
        unaffected: ['7.23.2', '7.24.0', '8.0.0-0', '8.0.0-alpha.4', '8.0.0-beta.1', '8.0.0'],
      },
      { package: 'babel-traverse', affected: ['0.0.1', '6.26.0', '7.0.0-beta.0', '99.0.0'], unaffected: [] },
    ],
  },
  'GHSA-72xf-g2v4-qvf3': {
    severity: 'medium', // 6.5
    rows: [{ package: 'tough-cookie', affected: ['2.5.0', '4.1.2', '4.1.3-rc.1'], unaffected: ['4.1.3', '5.0.0'] }],
  },
  'GHSA-73qr-pfmq-6rp8': {
    malicious: true,
    severity: 'critical',
    rows: [
      {
        package: 'coa',
        affected: ['2.0.3', '2.0.3+build.1', '2.0.4', '2.1.1', '2.1.3', '3.0.1', '3.1.3'],
        unaffected: ['2.0.2', '2.0.3-rc.1', '2.1.0', '2.1.2', '3.0.0', '3.1.2', '3.1.4'],
      },
    ],
  },
  'GHSA-76p3-8jx3-jpfq': {
    severity: 'critical', // 9.8
    rows: [{ package: 'loader-utils', affected: ['0.2.17', '1.4.0', '2.0.0', '2.0.2'], unaffected: ['1.4.1', '1.4.2', '2.0.0-rc.1', '2.0.3', '3.0.0'] }],
  },
  'GHSA-78xj-cgh5-2h22': {
    severity: 'high', // database_specific HIGH
    rows: [{ package: 'ip', affected: ['1.0.0', '1.1.8', '1.1.8+build'], unaffected: ['1.1.9-rc.1', '1.1.9', '2.0.0'] }],
  },
  'GHSA-7fh5-64p2-3v2j': {
    severity: 'medium', // 5.3
    rows: [{ package: 'postcss', affected: ['7.0.39', '8.4.30'], unaffected: ['8.4.31', '8.5.0'] }],
  },
  'GHSA-7v5v-9h63-cj86': {
    severity: 'medium', // 5.3
    rows: [
      { package: '@grpc/grpc-js', affected: ['1.8.21', '1.9.0', '1.9.14', '1.10.0', '1.10.8'], unaffected: ['1.8.22', '1.8.23', '1.9.15', '1.10.9', '1.11.0'] },
    ],
  },
  'GHSA-8cf7-32gw-wr33': {
    severity: 'medium', // database_specific MODERATE
    rows: [{ package: 'jsonwebtoken', affected: ['8.5.1'], unaffected: ['9.0.0'] }],
  },
  'GHSA-93q8-gq69-wqmw': {
    severity: 'high', // 7.5
    rows: [
      { package: 'ansi-regex', affected: ['3.0.0', '4.0.0', '4.1.0', '5.0.0', '6.0.0'], unaffected: ['2.1.1', '3.0.1', '4.1.1', '5.0.1', '6.0.1', '6.1.0'] },
    ],
  },
  'GHSA-952p-6rrq-rcjv': {
    severity: 'medium', // database_specific MODERATE
    rows: [{ package: 'micromatch', affected: ['3.1.10', '4.0.7'], unaffected: ['4.0.8'] }],
  },
  'GHSA-97m3-w2cp-4xx6': {
    malicious: true,
    severity: 'critical',
    rows: [{ package: 'node-ipc', affected: ['10.1.1', '10.1.2'], unaffected: ['9.2.1', '10.1.0', '10.1.3', '11.0.0'] }],
  },
  'GHSA-9c47-m6qq-7p4h': {
    severity: 'high', // 7.1
    rows: [{ package: 'json5', affected: ['0.5.1', '1.0.1', '2.0.0', '2.2.1'], unaffected: ['1.0.2', '2.0.0-0', '2.2.2', '2.2.3'] }],
  },
  'GHSA-9wv6-86v2-598j': {
    severity: 'high', // 7.5
    rows: [
      {
        package: 'path-to-regexp',
        affected: ['0.1.7', '0.2.0', '1.8.0', '2.0.0', '3.2.0', '4.0.0', '6.2.2', '7.0.0', '7.2.0'],
        unaffected: ['0.1.10', '0.1.12', '1.9.0', '3.3.0', '6.3.0', '8.0.0', '8.1.0'],
      },
    ],
  },
  'GHSA-c2qf-rxjj-qqgw': {
    severity: 'medium', // 5.3
    rows: [{ package: 'semver', affected: ['5.7.1', '6.0.0', '6.3.0', '7.0.0', '7.5.1'], unaffected: ['5.7.2', '6.3.1', '7.0.0-rc.1', '7.5.2', '7.6.0'] }],
  },
  'GHSA-c59h-r6p8-q9wc': {
    severity: 'high', // 7.5
    rows: [
      {
        package: 'next',
        affected: ['0.9.9', '13.4.19', '13.4.20-canary.2', '13.4.20-canary.12'],
        unaffected: ['0.9.8', '13.4.20-canary.13', '13.4.20-canary.100', '13.4.20', '13.5.0'],
      },
    ],
  },
  'GHSA-cchq-frgv-rjh5': {
    severity: 'critical', // 9.8
    rows: [{ package: 'vm2', affected: ['3.9.0', '3.9.19'], unaffected: ['3.9.20', '4.0.0'] }],
  },
  'GHSA-cf4h-3jhx-xvhq': {
    severity: 'critical', // 9.8
    // The details name a 1.13.0-0 … 1.13.0-2 range that `affected` lacks: the range is authoritative.
    rows: [{ package: 'underscore', affected: ['1.3.2', '1.12.0'], unaffected: ['1.3.1', '1.12.1', '1.13.0-0', '1.13.0-2'] }],
  },
  'GHSA-cm22-4g7w-348p': {
    severity: 'medium', // CVSS v3 5.0 (a v4 vector is kept, not scored)
    rows: [{ package: 'serve-static', affected: ['1.15.0', '2.0.0'], unaffected: ['1.16.0', '1.16.2', '2.0.0-beta.1', '2.1.0'] }],
  },
  'GHSA-cqmj-92xf-r6r9': {
    severity: 'high', // the CVSS_V3 score is empty: database_specific HIGH
    rows: [{ package: 'socket.io-parser', affected: ['3.4.0', '3.4.2', '4.0.0', '4.2.2'], unaffected: ['3.3.3', '3.4.3', '3.4.4', '4.2.3'] }],
  },
  'GHSA-crh6-fp67-6883': {
    severity: 'critical', // database_specific CRITICAL
    rows: [
      { package: 'xmldom', affected: ['0.1.0', '0.6.0'], unaffected: ['0.6.1', '1.0.0'] },
      {
        package: '@xmldom/xmldom',
        affected: ['0.7.6', '0.8.0', '0.8.3', '0.9.0-beta.1', '0.9.0-beta.3'],
        unaffected: ['0.7.7', '0.8.4', '0.9.0-alpha.1', '0.9.0-beta.4', '0.9.0'],
      },
    ],
  },
  'GHSA-cxjh-pqwp-8mfp': {
    severity: 'medium', // 6.5
    rows: [{ package: 'follow-redirects', affected: ['1.15.5'], unaffected: ['1.15.6'] }],
  },
  'GHSA-f8q6-p94x-37v3': {
    severity: 'high', // 7.5
    rows: [{ package: 'minimatch', affected: ['3.0.4'], unaffected: ['3.0.5', '9.0.0'] }],
  },
  'GHSA-g2q5-5433-rhrf': {
    malicious: true,
    severity: 'critical',
    rows: [{ package: 'rc', affected: ['1.2.9', '1.3.9', '2.3.9'], unaffected: ['1.2.8', '1.3.0', '2.3.8'] }],
  },
  'GHSA-g3ch-rx76-35fx': {
    severity: 'medium', // 4.2
    rows: [{ package: 'vue-template-compiler', affected: ['2.0.0', '2.7.16'], unaffected: ['1.0.28', '2.0.0-alpha.1', '3.0.0'] }],
  },
  'GHSA-gcx4-mw62-g8wm': {
    severity: 'high', // CVSS v4 only: database_specific HIGH
    rows: [{ package: 'rollup', affected: ['2.79.1', '3.0.0', '3.29.4', '4.0.0', '4.22.3'], unaffected: ['2.79.2', '3.29.5', '4.0.0-0', '4.22.4'] }],
  },
  'GHSA-gp8f-8m3g-qvj9': {
    severity: 'high', // 7.5
    rows: [{ package: 'next', affected: ['13.5.1', '13.5.6', '14.0.0', '14.2.9'], unaffected: ['13.5.0', '13.5.7', '14.0.0-canary.1', '14.2.10', '15.0.0'] }],
  },
  'GHSA-grv7-fg5c-xmjg': {
    severity: 'high', // 7.5
    rows: [{ package: 'braces', affected: ['2.3.2', '3.0.2'], unaffected: ['3.0.3'] }],
  },
  'GHSA-hrpp-h998-j3pp': {
    severity: 'high', // 7.5
    rows: [
      {
        package: 'qs',
        affected: ['6.2.3', '6.3.0', '6.3.2', '6.4.0', '6.5.2', '6.6.0', '6.7.2', '6.8.2', '6.9.6', '6.10.2'],
        unaffected: ['6.2.4', '6.3.3', '6.4.1', '6.5.3', '6.6.1', '6.7.3', '6.8.3', '6.9.7', '6.10.3', '6.11.0'],
      },
    ],
  },
  'GHSA-hxxf-q3w9-4xgw': {
    malicious: true,
    severity: 'critical',
    rows: [
      // The range [3.7.2, 4.0.0) covers 3.7.3 too, whatever the one-item versions list says.
      { package: 'eslint-scope', affected: ['3.7.2', '3.7.3'], unaffected: ['3.7.1', '4.0.0'] },
      { package: 'eslint-config-eslint', affected: ['5.0.2', '5.0.3'], unaffected: ['5.0.1', '6.0.0'] },
    ],
  },
  'GHSA-j8xg-fqg3-53r7': {
    severity: 'medium', // 5.3
    rows: [{ package: 'word-wrap', affected: ['1.2.3'], unaffected: ['1.2.4', '1.2.5'] }],
  },
  'GHSA-m6fv-jmcg-4jfg': {
    severity: 'medium', // 5.0
    rows: [{ package: 'send', affected: ['0.18.0'], unaffected: ['0.19.0', '1.0.0'] }],
  },
  'GHSA-mh6f-8j2x-4483': {
    malicious: true,
    severity: 'critical',
    rows: [
      { package: 'event-stream', affected: ['3.3.6'], unaffected: ['3.3.5', '4.0.0', '4.0.1'] },
      { package: 'flatmap-stream', affected: ['0.1.0', '0.1.1'], unaffected: [] },
    ],
  },
  'GHSA-p6mc-m468-83gw': {
    severity: 'high', // 7.4
    // The details say "prior to 4.17.19"; the range says fixed 4.17.20, so 4.17.19 is affected.
    rows: [
      { package: 'lodash', affected: ['4.17.15', '4.17.19'], unaffected: ['4.17.20', '4.17.21'] },
      { package: 'lodash-es', affected: ['4.17.19'], unaffected: ['4.17.20'] },
    ],
  },
  'GHSA-p8p7-x288-28g6': {
    severity: 'medium', // 6.1
    rows: [
      { package: 'request', affected: ['2.88.0', '2.88.2'], unaffected: ['2.88.3'] },
      { package: '@cypress/request', affected: ['2.88.10', '2.88.11'], unaffected: ['2.88.12', '3.0.0'] },
    ],
  },
  'GHSA-p9pc-299p-vxgp': {
    severity: 'medium', // 5.3
    rows: [
      {
        package: 'yargs-parser',
        affected: ['5.0.0', '6.0.0', '13.1.1', '14.0.0', '15.0.0', '16.0.0', '18.1.0'],
        unaffected: ['5.0.1', '5.0.2', '13.1.2', '15.0.1', '18.1.1', '18.1.2', '20.2.9'],
      },
    ],
  },
  'GHSA-pjwm-rvh2-c87w': {
    malicious: true,
    severity: 'critical',
    rows: [{ package: 'ua-parser-js', affected: ['0.7.29', '0.8.0', '1.0.0'], unaffected: ['0.7.28', '0.7.30', '0.8.1', '1.0.0-beta.1', '1.0.1'] }],
  },
  'GHSA-pxg6-pf52-xh8x': {
    severity: 'low', // database_specific LOW
    rows: [{ package: 'cookie', affected: ['0.6.0'], unaffected: ['0.7.0', '1.0.0'] }],
  },
  'GHSA-qw6h-vgh9-j6wx': {
    severity: 'medium', // 5.0
    rows: [{ package: 'express', affected: ['4.19.2', '5.0.0-alpha.1', '5.0.0-beta.3'], unaffected: ['4.20.0', '4.21.0', '5.0.0-alpha.0', '5.0.0'] }],
  },
  'GHSA-qwcr-r2fm-qrc7': {
    severity: 'high', // 7.5
    rows: [{ package: 'body-parser', affected: ['1.20.2'], unaffected: ['1.20.3', '2.0.0'] }],
  },
  'GHSA-r628-mhmh-qjhw': {
    severity: 'high', // 8.2
    rows: [
      {
        package: 'tar',
        affected: ['3.2.2', '4.0.0', '4.4.14', '5.0.0', '5.0.6', '6.0.0', '6.1.1'],
        unaffected: ['3.2.3', '4.4.15', '5.0.7', '6.1.2', '7.0.0'],
      },
    ],
  },
  'GHSA-r683-j2x4-v87g': {
    severity: 'high', // CVSS 3.0: 8.8
    // `introduced: "1.0"` is read as 1.0.0. The ranges overlap: [1.0.0, 3.1.1) keeps 2.6.7 affected though the other range fixes it.
    rows: [{ package: 'node-fetch', affected: ['0.1.0', '1.0.0', '2.6.6', '2.6.7', '3.0.0', '3.1.0'], unaffected: ['3.1.1', '3.2.0'] }],
  },
  'GHSA-rv95-896h-c2vc': {
    severity: 'medium', // 6.1
    rows: [{ package: 'express', affected: ['4.19.1', '5.0.0-alpha.1', '5.0.0-beta.2'], unaffected: ['4.19.2', '5.0.0-beta.3', '5.0.0'] }],
  },
  'GHSA-wc69-rhjr-hc9g': {
    severity: 'high', // 7.5
    rows: [
      { package: 'moment', affected: ['2.18.0', '2.29.3'], unaffected: ['2.17.1', '2.29.4'] },
      // The same record's NuGet entry names `Moment.js`: it must never match an npm package.
      { package: 'Moment.js', affected: [], unaffected: ['2.18.0', '2.20.0'] },
    ],
  },
  'GHSA-wf5p-g6vw-rhxx': {
    severity: 'medium', // database_specific MODERATE
    rows: [{ package: 'axios', affected: ['0.8.1', '1.5.1'], unaffected: ['0.8.0', '1.6.0'] }],
  },
  'GHSA-wr3j-pwj9-hqq6': {
    severity: 'high', // 7.4
    rows: [{ package: 'webpack-dev-middleware', affected: ['5.3.3', '6.0.0', '6.1.1', '7.0.0'], unaffected: ['5.3.4', '6.1.2', '7.1.0', '7.4.2'] }],
  },
  'GHSA-xvch-5gv4-984h': {
    severity: 'critical', // 9.8
    rows: [{ package: 'minimist', affected: ['0.2.3', '0.2.4-0', '1.0.0', '1.2.5'], unaffected: ['0.2.4', '1.2.6'] }],
  },
};
