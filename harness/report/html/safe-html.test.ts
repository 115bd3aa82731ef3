import { describe, expect, it } from 'vitest';
import { html, scriptJson } from './safe-html.ts';

describe('html', () => {
  it('escapes every interpolated value, nested markup excepted', () => {
    const evil = '<script>alert("x")</script> & \'q\'';
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe('<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;</p>');
    expect(html`<ul>${['a<', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.value).toBe('<ul><li>a&lt;</li><li>b</li></ul>');
    expect(html`${null}${undefined}${0}`.value).toBe('0');
  });
});

describe('scriptJson', () => {
  it('keeps a string holding </script> inside the element, and parses back to the same value', () => {
    const value = { observed: '</script><script>alert(1)</script>', line: 'a\u2028b' };
    const text = scriptJson(value).value;
    expect(text).not.toMatch(/<\/script/i);
    expect(JSON.parse(text)).toEqual(value);
  });
});
