// The page of `beit3 serve`: one image (dropped, pasted or chosen), then VQA, captioning,
// classification or a text search of the gallery through the server's /v1 routes.
const $ = (id) => document.getElementById(id);
const state = { image: null, tasks: new Set(), gallery: false };

function headers() {
  const h = { 'content-type': 'application/json' };
  const key = $('api-key').value.trim();
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

function setStatus(text) {
  $('status').textContent = text;
}

function showError(text) {
  const e = $('error');
  e.textContent = text;
  e.hidden = !text;
}

async function call(path, body) {
  showError('');
  setStatus('Working…');
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers: headers(), body: JSON.stringify(body) });
  } catch (e) {
    setStatus('');
    throw new Error(`cannot reach the server (${e.message})`);
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  setStatus('');
  if (!res.ok) {
    const msg = json?.error?.message ?? (text || res.statusText);
    throw new Error(`${res.status}: ${msg}`);
  }
  return json;
}

function pct(x) {
  return `${(100 * x).toFixed(1)}%`;
}

function render(title, rows) {
  const out = $('results');
  out.replaceChildren();
  const h = document.createElement('h3');
  h.textContent = title;
  out.append(h);
  out.append(rows);
}

function scoreList(items, cls = 'answers') {
  const ol = document.createElement('ol');
  ol.className = cls;
  for (const { text, score } of items) {
    const li = document.createElement('li');
    li.className = 'result';
    const s = document.createElement('span');
    s.className = 'score';
    s.textContent = pct(score);
    const m = document.createElement('meter');
    m.min = 0;
    m.max = 1;
    m.value = score;
    m.setAttribute('aria-hidden', 'true');
    const t = document.createElement('span');
    t.className = 'label';
    t.textContent = text;
    li.append(s, ' ', m, ' ', t);
    ol.append(li);
  }
  return ol;
}

function needImage() {
  if (!state.image) throw new Error('Choose, drop or paste an image first.');
  return state.image;
}

async function run(fn) {
  try {
    await fn();
  } catch (e) {
    setStatus('');
    showError(e.message);
  }
}

function loadFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    showError(`${file.name || 'that file'} is ${file.type}, not an image.`);
    return;
  }
  const r = new FileReader();
  r.onload = () => {
    state.image = r.result;
    const p = $('preview');
    p.src = r.result;
    p.alt = `the chosen image${file.name ? ` (${file.name})` : ''}`;
    p.hidden = false;
    $('drop-text').textContent = file.name || 'pasted image';
    showError('');
    setStatus('Image ready.');
    refreshButtons();
  };
  r.onerror = () => showError('Could not read that file.');
  r.readAsDataURL(file);
}

function refreshButtons() {
  for (const b of document.querySelectorAll('button[data-task]')) {
    const t = b.dataset.task;
    const served = t === 'search' ? state.gallery : state.tasks.has(t);
    b.disabled = !served;
    b.title = served
      ? ''
      : t === 'search'
        ? 'the server has no gallery (--index)'
        : `the server does not serve ${t}`;
  }
}

$('file').addEventListener('change', (e) => loadFile(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('click', () => $('file').click());
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    $('file').click();
  }
});
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  loadFile(e.dataTransfer.files[0]);
});
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith('image/'));
  if (item) loadFile(item.getAsFile());
});

$('vqa-form').addEventListener('submit', (e) => {
  e.preventDefault();
  run(async () => {
    const question = $('question').value.trim();
    if (!question) throw new Error('Type a question first.');
    const r = await call('/v1/vqa', { image: needImage(), question, topk: 5 });
    const a = r.results[0];
    render(`Answer: ${a.answer}`, scoreList(a.topk.map((t) => ({ text: t.answer, score: t.score }))));
  });
});

$('caption').addEventListener('click', () =>
  run(async () => {
    const r = await call('/v1/captions', { image: needImage() });
    const p = document.createElement('p');
    p.className = 'caption';
    p.textContent = `${r.results[0].caption} (log-probability score ${r.results[0].score.toFixed(3)})`;
    render('Caption', p);
  }),
);

$('classify').addEventListener('click', () =>
  run(async () => {
    const r = await call('/v1/classify', { image: needImage(), topk: 5 });
    render('Classes', scoreList(r.results[0].labels.map((l) => ({ text: l.label, score: l.score }))));
  }),
);

$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  run(async () => {
    const query = $('query').value.trim();
    if (!query) throw new Error('Type what to search for first.');
    const r = await call('/v1/search', { query, k: 8 });
    const ul = document.createElement('ul');
    ul.className = 'hits';
    for (const h of r.hits) {
      const li = document.createElement('li');
      const img = document.createElement('img');
      img.alt = h.path;
      const fig = document.createElement('span');
      fig.className = 'hit-label';
      fig.textContent = `${h.path} — ${h.score.toFixed(3)}`;
      li.append(img, fig);
      ul.append(li);
      fetch(`/v1/search/image?path=${encodeURIComponent(h.path)}`, { headers: headers() })
        .then((x) => (x.ok ? x.blob() : null))
        .then((b) => b && (img.src = URL.createObjectURL(b)));
    }
    render(r.hits.length ? `Gallery: ${r.hits.length} best matches` : 'Gallery: no images', ul);
  });
});

async function init() {
  try {
    const res = await fetch('/health');
    const h = await res.json();
    state.tasks = new Set(h.tasks ?? []);
    state.gallery = !!h.gallery && state.tasks.has('retrieval');
    $('served').textContent =
      h.status === 'ok'
        ? `Serving: ${[...state.tasks].join(', ')}${state.gallery ? ` · gallery of ${h.gallery.items} images` : ''}`
        : `Server status: ${h.status}${h.error ? ` (${h.error})` : ''}`;
    if (h.status === 'loading') setTimeout(init, 1000);
  } catch (e) {
    $('served').textContent = `Cannot reach the server: ${e.message}`;
  }
  refreshButtons();
}
refreshButtons();
init();
