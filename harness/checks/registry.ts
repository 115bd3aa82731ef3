import type { Check } from './check.ts';
import { balanceAllBackends } from './balance-all-backends.ts';
import { failoverBackendDown } from './failover-backend-down.ts';
import { headersForwardedFor } from './headers-forwarded-for.ts';
import { headersForwardedProto } from './headers-forwarded-proto.ts';
import { headersHostPreserved } from './headers-host-preserved.ts';
import { prefixBareApi } from './prefix-bare-api.ts';
import { prefixDocsPassthrough } from './prefix-docs-passthrough.ts';
import { prefixRootCatchall } from './prefix-root-catchall.ts';
import { prefixStrip } from './prefix-strip.ts';
import { scannerPhpDropped } from './scanner-php-dropped.ts';
import { streamDownloadLarge } from './stream-download-large.ts';
import { streamDownloadUnbuffered } from './stream-download-unbuffered.ts';
import { streamIdleGap } from './stream-idle-gap.ts';
import { streamUploadLarge } from './stream-upload-large.ts';
import { streamUploadUnbuffered } from './stream-upload-unbuffered.ts';
import { tlsRedirectHttps } from './tls-redirect-https.ts';
import { tlsTerminate } from './tls-terminate.ts';
import { backupOnlyWhenPrimariesDown } from './backup-only-when-primaries-down.ts';
import { drainGraceful } from './drain-graceful.ts';
import { failoverDetectWithinBudget } from './failover-detect-within-budget.ts';
import { failoverNoErrorsAfterDetect } from './failover-no-errors-after-detect.ts';
import { failoverRejoinWithinBudget } from './failover-rejoin-within-budget.ts';
import { failoverShutdownSessions } from './failover-shutdown-sessions.ts';
import { failoverSlowstartRamp } from './failover-slowstart-ramp.ts';
import { healthPassiveEjection } from './health-passive-ejection.ts';
import { retryRedispatch } from './retry-redispatch.ts';
import { affinitySourceIp } from './affinity-source-ip.ts';
import { hashUriConsistent } from './hash-uri-consistent.ts';
import { stickyCookieHonoured } from './sticky-cookie-honoured.ts';
import { stickyCookieInserted } from './sticky-cookie-inserted.ts';
import { stickyDeadPinRebalanced } from './sticky-dead-pin-rebalanced.ts';
import { stickyWsReconnectAfterFailover } from './sticky-ws-reconnect-after-failover.ts';
import { stickyWsSameBackend } from './sticky-ws-same-backend.ts';
import { wsIdleSurvives } from './ws-idle-survives.ts';
import { authBasicRequired } from './auth-basic-required.ts';
import { routeAuthGroupMap } from './route-auth-group-map.ts';
import { routePathPrefix } from './route-path-prefix.ts';
import { balanceLeastconn } from './balance-leastconn.ts';
import { balanceWeights } from './balance-weights.ts';
import { headersSecurity } from './headers-security.ts';
import { healthLbLocal } from './health-lb-local.ts';
import { ratelimitEnforced } from './ratelimit-enforced.ts';
import { ratelimitNotOverEager } from './ratelimit-not-over-eager.ts';
import { retryNextUpstream } from './retry-next-upstream.ts';
import { queueMaxconnMaxqueue } from './queue-maxconn-maxqueue.ts';
import { routeHeaderMap } from './route-header-map.ts';
import { routeMapRuntimeUpdate } from './route-map-runtime-update.ts';
import { routeRedispatchStaleMap } from './route-redispatch-stale-map.ts';
import { routeUnknownNodeDefault } from './route-unknown-node-default.ts';
import { smugglingClTe } from './smuggling-cl-te.ts';
import { smugglingTeObfuscated } from './smuggling-te-obfuscated.ts';
import { smugglingDuplicateCl } from './smuggling-duplicate-cl.ts';
import { smugglingChunkFraming } from './smuggling-chunk-framing.ts';
import { parsingBareLfCrNul } from './parsing-bare-lf-cr-nul.ts';
import { parsingHeaderNames } from './parsing-header-names.ts';
import { parsingRequestLine } from './parsing-request-line.ts';
import { parsingAbsoluteForm } from './parsing-absolute-form.ts';
import { upgradeH2cStripped } from './upgrade-h2c-stripped.ts';
import { limitsHeaderSize } from './limits-header-size.ts';
import { limitsSlowBody } from './limits-slow-body.ts';
import { limitsSlowloris } from './limits-slowloris.ts';
import { pathEncodedSlash } from './path-encoded-slash.ts';
import { pathPrefixEscape } from './path-prefix-escape.ts';

/** Every check lbdrill knows, by id. Profiles refer to these ids. */
export const CHECKS: ReadonlyMap<string, Check> = new Map(
  [
    prefixStrip,
    prefixDocsPassthrough,
    prefixBareApi,
    prefixRootCatchall,
    balanceAllBackends,
    headersForwardedFor,
    headersForwardedProto,
    headersHostPreserved,
    tlsTerminate,
    tlsRedirectHttps,
    scannerPhpDropped,
    streamUploadLarge,
    streamUploadUnbuffered,
    streamDownloadLarge,
    streamDownloadUnbuffered,
    streamIdleGap,
    failoverBackendDown,
    failoverDetectWithinBudget,
    failoverNoErrorsAfterDetect,
    failoverRejoinWithinBudget,
    failoverShutdownSessions,
    failoverSlowstartRamp,
    drainGraceful,
    retryRedispatch,
    backupOnlyWhenPrimariesDown,
    healthPassiveEjection,
    stickyCookieInserted,
    stickyCookieHonoured,
    stickyWsSameBackend,
    stickyDeadPinRebalanced,
    stickyWsReconnectAfterFailover,
    hashUriConsistent,
    wsIdleSurvives,
    affinitySourceIp,
    routePathPrefix,
    authBasicRequired,
    routeAuthGroupMap,
    balanceLeastconn,
    balanceWeights,
    headersSecurity,
    healthLbLocal,
    ratelimitEnforced,
    ratelimitNotOverEager,
    retryNextUpstream,
    routeHeaderMap,
    routeMapRuntimeUpdate,
    routeUnknownNodeDefault,
    routeRedispatchStaleMap,
    queueMaxconnMaxqueue,
    smugglingClTe,
    smugglingTeObfuscated,
    smugglingDuplicateCl,
    smugglingChunkFraming,
    parsingBareLfCrNul,
    parsingHeaderNames,
    parsingRequestLine,
    parsingAbsoluteForm,
    upgradeH2cStripped,
    limitsHeaderSize,
    limitsSlowloris,
    limitsSlowBody,
    pathPrefixEscape,
    pathEncodedSlash,
  ].map((check) => [check.id, check]),
);
