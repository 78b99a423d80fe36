// KPI cards and charts (Chart.js, served by cartpath) and the capacity forecast, filtered by centre,
// product and period; every chart has its figures in a table beside it for screen readers and print.
import { api, readYourWrites } from './api.js';
import { h, table } from './dom.js';
import { t } from './i18n.js';
import { go } from './main.js';

const state = { center: '', product: '', from: '', to: '', weeks: '8' };
const COLORS = ['#0b57a4', '#d9822b', '#1d6b2f', '#a61b1b', '#6b3fa0', '#4a5360', '#b38f00'];

function pct(r) { return r && r.rate !== null && r.rate !== undefined ? `${(r.rate * 100).toFixed(1)} %` : '—'; }
function num(v) { return v === null || v === undefined ? '—' : Number(v).toFixed(1); }

function card(id, label, value, detail) {
  return h('div', { class: 'card', id }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label),
    detail ? h('div', { class: 'muted' }, detail) : null);
}

function chart(id, title, config, rows, headers) {
  const canvas = h('canvas', { id, role: 'img', 'aria-label': title });
  const box = h('section', { class: 'panel' }, h('h2', {}, title), h('div', { class: 'chart' }, canvas),
    h('details', {}, h('summary', {}, t('data_table')), table(headers, rows, title)));
  requestAnimationFrame(() => {
    // eslint-disable-next-line no-new
    new window.Chart(canvas, { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { position: 'bottom' } }, ...(config.options || {}) } });
    canvas.setAttribute('data-drawn', 'true');
  });
  return box;
}

export async function renderDashboard(view) {
  const query = { center: state.center, product: state.product, from: state.from, to: state.to, min_position: readYourWrites() };
  const [{ body: kpis }, { body: capacity }] = await Promise.all([
    api('GET', '/reports/kpis', { query }),
    api('GET', '/reports/capacity', { query: { center: state.center, weeks: state.weeks, min_position: readYourWrites() } })]);
  const k = kpis.kpis;
  const field = (id, label, type, key, extra = {}) => h('div', {}, h('label', { for: id }, label),
    h('input', { id, type, value: state[key], onchange: (e) => { state[key] = e.target.value; }, ...extra }));
  view.append(h('h1', {}, t('dashboard_title')),
    h('form', { class: 'filters', id: 'dashboard-filters', onsubmit: (e) => { e.preventDefault(); go('#/dashboard'); } },
      field('dash-center', t('filter_center'), 'text', 'center'), field('dash-product', t('filter_product'), 'text', 'product'),
      field('dash-from', t('period_from'), 'date', 'from'), field('dash-to', t('period_to'), 'date', 'to'),
      field('dash-weeks', t('weeks'), 'number', 'weeks', { min: 1, max: 52 }), h('button', { type: 'submit' }, t('apply'))));
  view.append(h('div', { class: 'cards', id: 'kpi-cards' },
    card('kpi-pathways', t('kpi_pathways'), String(kpis.pathways)),
    card('kpi-v2v', t('kpi_v2v'), num(k.vein_to_vein.median), `p90 ${num(k.vein_to_vein.p90)} · n=${k.vein_to_vein.count}`),
    card('kpi-o2i', t('kpi_o2i'), num(k.order_to_infusion.median), `p90 ${num(k.order_to_infusion.p90)} · n=${k.order_to_infusion.count}`),
    card('kpi-dropout', t('kpi_dropout'), pct(k.drop_out), `${k.drop_out.numerator}/${k.drop_out.denominator}`),
    card('kpi-icu', t('kpi_icu'), pct(k.icu_transfer_rate), `${k.icu_transfer_rate.numerator}/${k.icu_transfer_rate.denominator}`),
    card('kpi-bridging', t('kpi_bridging'), pct(k.bridging_rate), `${k.bridging_rate.numerator}/${k.bridging_rate.denominator}`)));

  const groups = kpis.by_center_product || [];
  const v2vRows = groups.map((g) => [`${g.center} · ${g.product}`, num(g.kpis.vein_to_vein.median), num(g.kpis.vein_to_vein.p90), g.kpis.vein_to_vein.count]);
  // the distribution: how many infused patients per week of vein-to-vein time
  const v2vBins = (k.vein_to_vein.histogram || []).map((b) => [`${b.from}–${b.to}`, b.count]);
  const categories = Object.entries(k.drop_out.by_category || {});
  const grades = ['0', '1', '2', '3', '4'];
  const gradeRows = grades.map((g) => [g, (k.crs_max_grade.distribution || {})[g] || 0, (k.icans_max_grade.distribution || {})[g] || 0]);
  view.append(h('div', { class: 'grid2' },
    chart('chart-v2v', t('chart_v2v'), { type: 'bar', data: { labels: v2vBins.map((r) => r[0]), datasets: [
      { label: t('patients'), data: v2vBins.map((r) => r[1]), backgroundColor: COLORS[0] }] },
    options: { scales: { x: { title: { display: true, text: t('days') } } } } },
    v2vBins, [t('days'), t('patients')]),
    chart('chart-v2v-groups', t('chart_v2v_groups'), { type: 'bar', data: { labels: v2vRows.map((r) => r[0]), datasets: [
      { label: t('median'), data: groups.map((g) => g.kpis.vein_to_vein.median), backgroundColor: COLORS[0] },
      { label: 'p90', data: groups.map((g) => g.kpis.vein_to_vein.p90), backgroundColor: COLORS[1] }] } },
    v2vRows, [t('col_center'), t('median'), 'p90', 'n']),
    chart('chart-dropout', t('chart_dropout'), { type: 'bar', data: { labels: categories.map(([c]) => c), datasets: [
      { label: '%', data: categories.map(([, r]) => (r.rate || 0) * 100), backgroundColor: COLORS[3] }] },
    options: { indexAxis: 'y' } }, categories.map(([c, r]) => [c, pct(r), r.numerator]), [t('reason'), '%', 'n']),
    chart('chart-grades', `${t('chart_crs')} · ${t('chart_icans')}`, { type: 'bar', data: { labels: grades.map((g) => `${t('grade')} ${g}`), datasets: [
      { label: 'CRS', data: gradeRows.map((r) => r[1]), backgroundColor: COLORS[1] },
      { label: 'ICANS', data: gradeRows.map((r) => r[2]), backgroundColor: COLORS[4] }] } },
    gradeRows, [t('grade'), 'CRS', 'ICANS']),
    capacityChart(capacity)));
}

function capacityChart(capacity) {
  const days = capacity.days || [];
  const rows = days.map((d) => [d.date, num(d.ward_expected), d.ward_p90, d.beds, num(d.icu_expected), d.icu_beds, pct({ rate: d.p_over_capacity })]);
  const box = chart('chart-capacity', t('capacity'), { type: 'line', data: { labels: days.map((d) => d.date), datasets: [
    { label: t('ward_expected'), data: days.map((d) => d.ward_expected), borderColor: COLORS[0], backgroundColor: COLORS[0], pointRadius: 0 },
    { label: 'p90', data: days.map((d) => d.ward_p90), borderColor: COLORS[1], backgroundColor: COLORS[1], pointRadius: 0, borderDash: [4, 3] },
    { label: t('beds'), data: days.map((d) => d.beds), borderColor: COLORS[3], backgroundColor: COLORS[3], pointRadius: 0, stepped: true },
    { label: t('icu_expected'), data: days.map((d) => d.icu_expected), borderColor: COLORS[4], backgroundColor: COLORS[4], pointRadius: 0 }] },
  options: { scales: { y: { beginAtZero: true } } } },
  rows, [t('col_at'), t('ward_expected'), 'p90', t('beds'), t('icu_expected'), 'ICU beds', 'P(>beds)']);
  const assumptions = Object.entries(capacity.assumptions || {}).filter(([, v]) => typeof v === 'string');
  box.append(h('h3', {}, t('assumptions')), h('ul', { id: 'capacity-assumptions' }, assumptions.map(([key, text]) => h('li', {}, h('strong', {}, `${key}: `), text))));
  return box;
}
