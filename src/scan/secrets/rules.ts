import type { Severity } from '../../model/finding.js';

/**
 * One secret detector. Patterns use RE2 syntax (run by re2js, linear in the input) and name
 * the secret with `(?P<secret>…)`. They are written here from each provider's documented
 * token format (prefix, length, alphabet), not taken from another tool.
 */
export interface SecretRule {
  readonly id: string;
  readonly title: string;
  readonly severity: Severity;
  /** Lowercase literals; the pattern only runs on lines holding one of them. */
  readonly keywords: readonly string[];
  readonly pattern: string;
  /** Minimum Shannon entropy (bits per character) of the secret. */
  readonly minEntropy?: number;
  /** Only files whose path matches (RE2). */
  readonly paths?: string;
  /** Characters after the keyword's line that the pattern may need (multi-line formats). */
  readonly window?: number;
  /** How many leading characters (a public type prefix) the masked excerpt may show. */
  readonly keep?: number;
  /** Extra check on the secret text. */
  readonly check?: 'jwt' | 'private-key' | 'password' | 'generic';
}

const END = '(?:[^A-Za-z0-9_-]|$)';

function rule(
  id: string,
  title: string,
  severity: Severity,
  keywords: readonly string[],
  pattern: string,
  extra: Omit<SecretRule, 'id' | 'title' | 'severity' | 'keywords' | 'pattern'> = {},
): SecretRule {
  return { id: `secret-${id}`, title, severity, keywords, pattern, ...extra };
}

export const SECRET_RULES: readonly SecretRule[] = [
  // Cloud providers.
  rule('aws-access-key-id', 'AWS access key ID', 'high', ['akia', 'asia', 'abia', 'acca'], `\\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\\b`, {
    keep: 4,
    minEntropy: 3,
  }),
  rule(
    'aws-secret-access-key',
    'AWS secret access key',
    'critical',
    ['aws'],
    `(?i:aws)[A-Za-z0-9_.-]{0,20}(?i:secret|private)[A-Za-z0-9_.-]{0,20}["']?\\s{0,5}(?::=|=>|=|:)\\s{0,5}["']?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`,
    { minEntropy: 4 },
  ),
  rule('gcp-api-key', 'Google API key', 'high', ['aiza'], `\\b(?P<secret>AIza[0-9A-Za-z_-]{35})${END}`, { keep: 4, minEntropy: 3.5 }),
  rule('google-oauth-client-secret', 'Google OAuth client secret', 'high', ['gocspx-'], `(?P<secret>GOCSPX-[A-Za-z0-9_-]{28})${END}`, { keep: 7 }),
  rule('azure-storage-key', 'Azure storage account key', 'critical', ['accountkey'], `(?i:AccountKey)=(?P<secret>[A-Za-z0-9+/]{86}==)`, { minEntropy: 4 }),
  rule(
    'azure-ad-client-secret',
    'Microsoft Entra ID client secret',
    'high',
    ['q~'],
    `(?:^|[^A-Za-z0-9_~.-])(?P<secret>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)`,
    {
      minEntropy: 3.5,
    },
  ),
  rule('alibaba-access-key', 'Alibaba Cloud AccessKey ID', 'high', ['ltai'], `\\b(?P<secret>LTAI[A-Za-z0-9]{20})\\b`, { keep: 4, minEntropy: 3.5 }),
  rule('digitalocean-token', 'DigitalOcean token', 'high', ['dop_v1_', 'doo_v1_', 'dor_v1_'], `\\b(?P<secret>do[opr]_v1_[a-f0-9]{64})\\b`, { keep: 7 }),
  rule(
    'heroku-api-key',
    'Heroku API key',
    'high',
    ['heroku'],
    `(?i:heroku)[^\\n]{0,40}?\\b(?P<secret>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\b`,
  ),
  rule(
    'cloudflare-api-token',
    'Cloudflare API token',
    'high',
    ['cloudflare', 'cf_api'],
    `(?i:cloudflare|cf_api)[A-Za-z0-9_.-]{0,30}["']?\\s{0,5}(?::=|=>|=|:)\\s{0,5}["']?(?P<secret>[A-Za-z0-9_-]{40})${END}`,
    {
      minEntropy: 3.5,
    },
  ),
  rule('databricks-token', 'Databricks token', 'high', ['dapi'], `\\b(?P<secret>dapi[a-f0-9]{32}(?:-[0-9])?)\\b`, { keep: 4, minEntropy: 3 }),
  rule('supabase-token', 'Supabase access token', 'high', ['sbp_'], `\\b(?P<secret>sbp_[a-f0-9]{40})\\b`, { keep: 4 }),
  rule('planetscale-token', 'PlanetScale token', 'high', ['pscale_'], `\\b(?P<secret>pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64})`, { keep: 7 }),
  rule('pulumi-token', 'Pulumi access token', 'high', ['pul-'], `\\b(?P<secret>pul-[a-f0-9]{40})\\b`, { keep: 4 }),
  rule('terraform-cloud-token', 'Terraform Cloud / HCP token', 'high', ['atlasv1'], `\\b(?P<secret>[A-Za-z0-9]{14}\\.atlasv1\\.[A-Za-z0-9_=-]{60,70})${END}`),
  rule('vault-token', 'HashiCorp Vault token', 'critical', ['hvs.', 'hvb.', 'hvr.'], `\\b(?P<secret>hv[sbr]\\.[A-Za-z0-9_-]{24,400})`, {
    keep: 4,
    minEntropy: 3.5,
  }),
  rule(
    'doppler-token',
    'Doppler token',
    'high',
    ['dp.pt.', 'dp.st.', 'dp.sa.', 'dp.ct.', 'dp.scim.', 'dp.audit.'],
    `\\b(?P<secret>dp\\.(?:pt|st|sa|ct|scim|audit)\\.[A-Za-z0-9]{40,44})\\b`,
    {
      keep: 6,
    },
  ),
  rule(
    'kubeconfig-client-key',
    'Kubernetes client key in a kubeconfig',
    'critical',
    ['client-key-data'],
    `client-key-data:\\s*["']?(?P<secret>[A-Za-z0-9+/=]{40,})`,
    { minEntropy: 4 },
  ),
  // Source hosting and package registries.
  rule('github-token', 'GitHub token', 'critical', ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], `\\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36})\\b`, {
    keep: 4,
    minEntropy: 3,
  }),
  rule('github-fine-grained-token', 'GitHub fine-grained token', 'critical', ['github_pat_'], `\\b(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\\b`, {
    keep: 11,
    minEntropy: 3,
  }),
  rule(
    'gitlab-token',
    'GitLab token',
    'critical',
    ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-', 'glimt-', 'gloas-', 'glsoat-', 'glffct-', 'glagent-', 'glft-'],
    `(?P<secret>gl(?:pat|dt|rt|ptt|cbt|imt|oas|soat|ffct|agent|ft)-[0-9A-Za-z_-]{20,64}(?:\\.[0-9A-Za-z_-]{2,20}){0,2})(?:[^0-9A-Za-z_.-]|$)`,
    { keep: 6, minEntropy: 3 },
  ),
  rule('gitlab-runner-registration-token', 'GitLab runner registration token', 'high', ['gr1348941'], `\\b(?P<secret>GR1348941[0-9A-Za-z_-]{20})${END}`, {
    keep: 9,
  }),
  rule('bitbucket-app-password', 'Bitbucket app password', 'high', ['atbb'], `\\b(?P<secret>ATBB[A-Za-z0-9_=.-]{32})${END}`, { keep: 4, minEntropy: 3.5 }),
  rule('atlassian-api-token', 'Atlassian API token', 'high', ['atatt3'], `\\b(?P<secret>ATATT3[A-Za-z0-9_=-]{60,300})`, { keep: 6 }),
  rule('npm-token', 'npm access token', 'critical', ['npm_'], `\\b(?P<secret>npm_[A-Za-z0-9]{36})\\b`, { keep: 4, minEntropy: 3 }),
  rule(
    'npmrc-auth',
    'Registry credential in an .npmrc',
    'high',
    ['_authtoken', '_auth', '_password'],
    `(?i:_authToken|_auth|_password)\\s*=\\s*["']?(?P<secret>[^\\s"'$]{16,})`,
    {
      minEntropy: 3,
      check: 'password',
    },
  ),
  rule('pypi-token', 'PyPI upload token', 'critical', ['pypi-ageichlwas5vcmc'], `(?P<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})`, { keep: 5 }),
  rule('rubygems-key', 'RubyGems API key', 'high', ['rubygems_'], `\\b(?P<secret>rubygems_[a-f0-9]{48})\\b`, { keep: 9 }),
  rule('nuget-key', 'NuGet API key', 'high', ['oy2'], `\\b(?P<secret>oy2[a-z0-9]{43})\\b`, { keep: 3, minEntropy: 3.5 }),
  rule('crates-token', 'crates.io token', 'high', ['cio'], `\\b(?P<secret>cio[a-zA-Z0-9]{32})\\b`, { keep: 3, minEntropy: 4 }),
  rule('dockerhub-token', 'Docker Hub access token', 'high', ['dckr_pat_', 'dckr_oat_'], `\\b(?P<secret>dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,64})${END}`, {
    keep: 9,
  }),
  rule('docker-config-auth', 'Registry credential in a Docker config', 'high', ['"auth"'], `"auth"\\s*:\\s*"(?P<secret>[A-Za-z0-9+/]{12,}={0,2})"`, {
    paths: '(?:^|/)(?:\\.docker/config\\.json|\\.dockercfg|config\\.json)$',
  }),
  rule('netrc-password', 'Password in a .netrc', 'high', ['machine'], `machine\\s+\\S+\\s+login\\s+\\S+\\s+password\\s+(?P<secret>\\S{4,})`, {
    paths: '(?:^|/)[._]?netrc$',
    window: 512,
    check: 'password',
  }),
  // Collaboration, payment, AI and SaaS APIs.
  rule(
    'slack-token',
    'Slack token',
    'high',
    ['xoxb-', 'xoxp-', 'xoxa-', 'xoxr-', 'xoxs-', 'xoxe'],
    `\\b(?P<secret>xox(?:[abprs]|e(?:\\.xox[bp])?)-[0-9A-Za-z-]{10,250})`,
    {
      keep: 5,
      minEntropy: 3,
    },
  ),
  rule('slack-app-token', 'Slack app-level token', 'high', ['xapp-'], `\\b(?P<secret>xapp-[0-9]-[A-Z0-9]{6,}-[0-9]{6,}-[a-z0-9]{32,})`, { keep: 5 }),
  rule(
    'slack-webhook',
    'Slack incoming webhook',
    'high',
    ['hooks.slack.com'],
    `(?P<secret>https://hooks\\.slack\\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,120})`,
    { keep: 31 },
  ),
  rule(
    'discord-webhook',
    'Discord webhook',
    'medium',
    ['discord'],
    `(?P<secret>https://(?:ptb\\.|canary\\.)?discord(?:app)?\\.com/api/webhooks/[0-9]{5,30}/[A-Za-z0-9_-]{50,80})`,
    { keep: 33 },
  ),
  rule(
    'telegram-bot-token',
    'Telegram bot token',
    'medium',
    ['telegram', 'bot'],
    `(?i:telegram|bot)[^\\n]{0,40}?\\b(?P<secret>[0-9]{8,10}:AA[A-Za-z0-9_-]{33})${END}`,
  ),
  rule('stripe-live-key', 'Stripe live secret key', 'critical', ['sk_live_', 'rk_live_'], `\\b(?P<secret>[rs]k_live_[0-9a-zA-Z]{20,247})\\b`, {
    keep: 8,
    minEntropy: 3.5,
  }),
  rule(
    'square-token',
    'Square access token',
    'high',
    ['eaaa', 'sq0atp-', 'sq0csp-'],
    `\\b(?P<secret>EAAA[A-Za-z0-9_-]{60}|sq0atp-[0-9A-Za-z_-]{22}|sq0csp-[0-9A-Za-z_-]{43})${END}`,
    {
      keep: 4,
      minEntropy: 4,
    },
  ),
  rule('sendgrid-key', 'SendGrid API key', 'high', ['sg.'], `\\b(?P<secret>SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43})${END}`, { keep: 3 }),
  rule('twilio-api-key', 'Twilio API key', 'high', ['twilio'], `(?i:twilio)[^\\n]{0,40}?\\b(?P<secret>SK[0-9a-f]{32})\\b`, { keep: 2 }),
  rule('mailgun-key', 'Mailgun API key', 'high', ['mailgun'], `(?i:mailgun)[^\\n]{0,40}?\\b(?P<secret>key-[0-9a-f]{32})\\b`, { keep: 4 }),
  rule(
    'openai-key',
    'OpenAI API key',
    'critical',
    ['t3blbkfj'],
    `\\b(?P<secret>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200})${END}`,
    { keep: 3 },
  ),
  rule('anthropic-key', 'Anthropic API key', 'critical', ['sk-ant-'], `\\b(?P<secret>sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,100}AA)${END}`, { keep: 7 }),
  rule('huggingface-token', 'Hugging Face token', 'high', ['hf_'], `\\b(?P<secret>hf_[A-Za-z]{34})\\b`, { keep: 3, minEntropy: 3.8 }),
  rule('shopify-token', 'Shopify token', 'high', ['shpat_', 'shpca_', 'shppa_', 'shpss_'], `\\b(?P<secret>shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\\b`, { keep: 6 }),
  rule('linear-key', 'Linear API key', 'medium', ['lin_api_'], `\\b(?P<secret>lin_api_[A-Za-z0-9]{40})\\b`, { keep: 8 }),
  rule('postman-key', 'Postman API key', 'medium', ['pmak-'], `\\b(?P<secret>PMAK-[a-f0-9]{24}-[a-f0-9]{34})\\b`, { keep: 5 }),
  rule('newrelic-key', 'New Relic user key', 'medium', ['nrak-'], `\\b(?P<secret>NRAK-[A-Z0-9]{27})\\b`, { keep: 5 }),
  rule('grafana-token', 'Grafana token', 'high', ['glc_', 'glsa_'], `\\b(?P<secret>glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})`, {
    keep: 4,
    minEntropy: 3.5,
  }),
  rule('sentry-token', 'Sentry auth token', 'high', ['sntrys_', 'sntryu_'], `\\b(?P<secret>sntrys_[A-Za-z0-9+/=_]{60,400}|sntryu_[a-f0-9]{64})`, { keep: 7 }),
  rule('okta-token', 'Okta API token', 'high', ['okta'], `(?i:okta)[^\\n]{0,40}?\\b(?P<secret>00[A-Za-z0-9_-]{40})${END}`, { minEntropy: 3.5 }),
  rule('mapbox-secret-token', 'Mapbox secret token', 'medium', ['sk.eyj'], `\\b(?P<secret>sk\\.eyJ[A-Za-z0-9_-]{50,400}\\.[A-Za-z0-9_-]{20,100})`, { keep: 3 }),
  rule('age-secret-key', 'age secret key', 'critical', ['age-secret-key-1'], `(?P<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})`, {
    keep: 15,
  }),
  // Formats that are secrets by construction.
  rule(
    'private-key',
    'Private key',
    'critical',
    ['-----begin'],
    `-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:\\\\[rn]|\\s)*(?:[A-Za-z-]{1,40}:[^\\n]{0,200}\\n(?:\\\\[rn]|\\s)*)*(?P<secret>[A-Za-z0-9+/=](?:[A-Za-z0-9+/=]|\\\\[rn]|\\s){62,798}[A-Za-z0-9+/=])`,
    { window: 4096, check: 'private-key' },
  ),
  rule('jwt', 'JSON Web Token', 'medium', ['eyj'], `\\b(?P<secret>eyJ[A-Za-z0-9_-]{10,}\\.eyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,})`, {
    keep: 3,
    check: 'jwt',
  }),
  rule(
    'database-url',
    'Database URL with a password',
    'high',
    ['postgres', 'mysql', 'mariadb', 'mongodb', 'redis', 'amqp', 'mssql', 'sqlserver', 'cockroachdb', 'clickhouse'],
    `(?i:\\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\\+srv)?|rediss?|amqps?|mssql|sqlserver|cockroachdb|clickhouse)://)[^\\s:/@'"\`]{0,100}:(?P<secret>[^\\s@/'"\`]{3,200})@[^\\s/'"\`]{1,255}`,
    { check: 'password' },
  ),
  rule(
    'url-credentials',
    'Password in a URL',
    'medium',
    ['://'],
    `\\b(?:https?|ftps?|ssh|git\\+https?)://[A-Za-z0-9._~%-]{1,100}:(?P<secret>[^\\s@/'"\`]{3,200})@[A-Za-z0-9.-]{1,255}`,
    {
      check: 'password',
    },
  ),
  rule(
    'generic-assignment',
    'High-entropy value assigned to a secret-named variable',
    'medium',
    ['secret', 'token', 'password', 'passwd', 'pwd', 'api_key', 'apikey', 'api-key', 'access_key', 'auth_key', 'credential', 'private_key', 'client_secret'],
    `(?i:[A-Za-z0-9_.-]{0,30}(?:secret|token|passw(?:or)?d|pwd|api[_.-]?key|apikey|access[_.-]?key|auth[_.-]?key|credential|private[_.-]?key|client[_.-]?secret)[A-Za-z0-9_.-]{0,20})["']?\\s{0,5}(?::=|=>|=|:)\\s{0,5}["'\`]?(?P<secret>[A-Za-z0-9+/=_.~!@#%^*-]{16,128})(?:["'\`\\s;,)]|$)`,
    { check: 'generic', minEntropy: 3.5 },
  ),
];
