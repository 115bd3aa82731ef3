-- wrk's end-of-run summary as one JSON line (wrk(1) "done" hook), for bench/load/wrk-requests.ts.
-- Latency values are microseconds; summary.duration too.
done = function(summary, latency, requests)
  io.write(string.format(
    '\n{"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
