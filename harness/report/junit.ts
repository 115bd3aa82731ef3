import type { RunReport } from './run-report.ts';

function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // XML 1.0 forbids most control characters even when escaped.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');
}

/** JUnit XML: a testsuite per target, a testcase per check. */
export function renderJunit(report: RunReport): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const all = report.results;
  const count = (status: string): number => all.filter((r) => r.status === status).length;
  lines.push(
    `<testsuites name="lbdrill ${escape(report.profile)}" tests="${all.length}" failures="${count('fail')}" errors="${count('error')}" skipped="${count('unsupported') + count('skipped')}" time="${(report.durationMs / 1000).toFixed(3)}">`,
  );
  for (const target of report.targets) {
    const results = all.filter((r) => r.target === target.name);
    const n = (status: string): number => results.filter((r) => r.status === status).length;
    const time = results.reduce((sum, r) => sum + r.durationMs, 0) / 1000;
    lines.push(
      `  <testsuite name="${escape(`${report.profile} on ${target.name}`)}" tests="${results.length}" failures="${n('fail')}" errors="${n('error')}" skipped="${n('unsupported') + n('skipped')}" time="${time.toFixed(3)}">`,
    );
    lines.push('    <properties>');
    lines.push(`      <property name="binary" value="${escape(target.binary ?? 'not installed')}"/>`);
    lines.push(`      <property name="config" value="${escape(target.config ?? '')}"/>`);
    lines.push('    </properties>');
    for (const r of results) {
      const open = `    <testcase classname="lbdrill.${escape(report.profile)}.${escape(target.name)}" name="${escape(`${r.check} [${r.severity}]`)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
      const message = escape(`expected ${r.expected}; observed ${r.observed}`);
      if (r.status === 'pass') lines.push(`${open}/>`);
      else if (r.status === 'fail') lines.push(`${open}>`, `      <failure message="${message}" type="${r.severity}">${escape(JSON.stringify(r.evidence, null, 2))}</failure>`, '    </testcase>');
      else if (r.status === 'error') lines.push(`${open}>`, `      <error message="${message}" type="error"/>`, '    </testcase>');
      else lines.push(`${open}>`, `      <skipped message="${escape(`${r.status}: ${r.observed}`)}"/>`, '    </testcase>');
    }
    // a deployed pool's hook commands, for CI logs: what lbdrill ran on the operator's hosts
    const hooks = report.deployment?.hooks ?? [];
    if (hooks.length > 0) lines.push(`    <system-out>${escape(hooks.map((h) => `${h.startedAt} ${h.hook} ${h.backend} (${h.purpose}): ${h.command} -> ${h.exitCode ?? h.signal} in ${h.durationMs} ms`).join('\n'))}</system-out>`);
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
