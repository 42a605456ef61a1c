// The number rule as the viewer's JavaScript writes it; `node rule.js >
// vectors.json` regenerates the vectors numfmt_test.go holds the Go side to.
const percent = (x) => Math.round(100 * x) + '%';
const score = (x) => x.toFixed(3);
const pvalue = (p) => (p === 1 ? '1' : p === 0 ? '0' : p >= 0.001 ? p.toPrecision(2) : p.toExponential(1));
const duration = (ms) => {
  // Each unit as long as the figure rounds within it: 9.96 is "10 ms",
  // not "10.0 ms"; 999.6 is "1.00 s".
  if (ms < 10 && ms.toFixed(1) !== '10.0') return ms.toFixed(1) + ' ms';
  if (ms < 1000 && ms.toFixed(0) !== '1000') return ms.toFixed(0) + ' ms';
  if (ms < 60000 && (ms / 1000).toFixed(2) !== '60.00') return (ms / 1000).toFixed(2) + ' s';
  const s = Math.round(ms / 1000);
  return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
};
const usd = (x) => {
  if (x === 0) return '$0';
  if (Math.abs(x) < 0.01) {
    const d = 3 - Math.floor(Math.log10(Math.abs(x)));
    return '$' + x.toFixed(d).replace(/0+$/, '').replace(/\.$/, '');
  }
  return '$' + x.toFixed(2);
};
const count = (x) => String(Math.sign(x) * Math.round(Math.abs(x)) + 0).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const fractions = [0, 1, 0.5, 10 / 16, 0.285, 0.125, 1 / 3, 2 / 3, 0.005, 0.015, 0.995, 0.0625, 0.1875, 0.3125, 0.4375, 0.5625,
  0.6875, 0.8125, 0.9375, 1.0005, 0.0005, 0.0015, 0.1234, 0.98765, 7 / 16, 11 / 16, 0.999, 0.9995];
const pvalues = [1, 0, 0.42, 0.031, 0.0012, 0.001, 0.00099996, 6.1e-7, 7.6e-6, 0.0000076, 0.5, 0.125, 0.05, 0.049999, 0.999,
  0.0954, 1e-12, 3.14159e-20, 0.0015, 0.00015, 0.00149, 0.9999, 0.1, 0.01];
const durations = [0, 0.04, 3.6, 3.65, 9.94, 9.96, 10, 45.5, 238, 238.4, 999.4, 999.6, 1000, 1179.56, 1175, 9999, 59994, 59996,
  60000, 60499, 60500, 245000, 3599600, 3600000, 7322000];
const dollars = [0, 0.000123456, 0.0099999, 0.00001, 0.5, 12.345, 1234.5, 0.0024, 0.00012, 0.004800000000000001, 0.01, 0.009995,
  0.12345, 1e-9, 3.3e-7, 0.0015, 0.00015, 99.995, 0.335, 2.675];
const counts = [0, 999, 1000, 1234567.4, -1234, 12.5, 0.5, 2.5, -2.5, -0.4, 220, 1e6, 999999.5, 123456789];
const out = { percent: {}, score: {}, pvalue: {}, duration: {}, usd: {}, count: {} };
for (const x of dollars) out.usd[x] = usd(x);
for (const x of counts) out.count[x] = count(x);
for (const x of fractions) { out.percent[x] = percent(x); out.score[x] = score(x); }
for (const p of pvalues) out.pvalue[p] = pvalue(p);
for (const d of durations) out.duration[d] = duration(d);
console.log(JSON.stringify(out, null, 1));
