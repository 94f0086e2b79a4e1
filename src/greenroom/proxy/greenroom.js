// greenroom's routing inside the proxy: read per request from a shared dict, so that a
// color switch, an app added or maintenance mode never needs an nginx reload.
// State per app lives in /var/lib/greenroom/apps/<app>.json (a volume) and is loaded into
// the dict after any restart; the admin API (127.0.0.1 only) writes file, then dict.
const fs = require('fs');
const DIR = '/var/lib/greenroom';
const APPS = DIR + '/apps';
const HISTORY = DIR + '/history';
const dict = ngx.shared.greenroom;
// per app and color while a color is staged: requests, 5xx, upstream errors, latency buckets
const stats = ngx.shared.greenroom_stats;
// upper bounds (ms) of the latency buckets counted; the last is everything slower
const LATENCY_MS = [5, 10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000];
// APP.greenroom.internal names every app, for greenroom's own confirm probe, which asks
// from 127.0.0.1 inside the proxy: from anywhere else such a host has no app (404)
const INTERNAL = '.greenroom.internal';
const LOCAL = '127.0.0.1';
// The dict's keys. Per request: G, then H + host, then R + app (three reads). Each VM (a
// request's) starts from this file again, so nothing per request is kept in variables here.
// G: 'L' once the files are loaded, followed by the generation that retires, if one does
const G = 'g';
const H = 'h:';  // host -> app
const R = 'r:';  // app -> "maintenance\ntargets\nstaged" (staged: stagedKey, or '')
const V = 'v:';  // a preview host -> '1'
const S = 's:';  // app -> its whole state (JSON), for the admin API and the next put

// A staged color (preview or canary) in one string read per request:
// weight (basis points)|new color|live color|preview header|preview cookie|sticky header|
// canary cookie|new targets
function stagedKey(st) {
    const sg = st.staged;
    return [Math.round((sg.weight || 0) * 100), sg.color || '', st.color || '',
        (sg.header || '').toLowerCase(), sg.cookie || '', (sg.sticky || '').toLowerCase(),
        sg.canary_cookie || '', (sg.targets || []).join(' ')].join('|');
}

function clearStats(app) {
    stats.keys().forEach(function (k) { if (k.startsWith(app + '|')) { stats.delete(k); } });
}

function route(st) {
    return [st.maintenance ? '1' : '0', (st.targets || []).join(' '), st.staged ? stagedKey(st) : ''].join('\n');
}

function put(st) {
    // new keys first, stale ones after: a request in between never finds the host unmapped
    const hosts = st.hosts || [];
    const previews = st.staged ? (st.staged.hosts || []) : [];
    const old = dict.get(S + st.app);
    const was = old ? JSON.parse(old) : {};
    const wasStaged = was.staged ? was.staged.deploy : '';
    if (st.staged && st.staged.deploy !== wasStaged) { clearStats(st.app); }
    dict.set(R + st.app, route(st));
    hosts.forEach(function (h) { dict.set(H + h, st.app); });
    previews.forEach(function (h) { dict.set(H + h, st.app); dict.set(V + h, '1'); });
    const kept = hosts.concat(previews);
    (was.hosts || []).concat(was.staged ? (was.staged.hosts || []) : []).forEach(function (h) {
        if (kept.indexOf(h) < 0 && dict.get(H + h) === st.app) { dict.delete(H + h); }
        if (previews.indexOf(h) < 0) { dict.delete(V + h); }
    });
    dict.set(S + st.app, JSON.stringify(st));
}

function drop(app) {
    const old = dict.get(S + app);
    if (old) {
        const was = JSON.parse(old);
        (was.hosts || []).concat(was.staged ? (was.staged.hosts || []) : []).forEach(function (h) {
            if (dict.get(H + h) === app) { dict.delete(H + h); }
            dict.delete(V + h);
        });
    }
    dict.delete(R + app);
    dict.delete(S + app);
}

// The app state files into the dict, once per dict (a reload keeps it; a new nginx starts
// empty). Returns G's value. A dict an older greenroom.js filled has no G: loaded again.
function load() {
    const g = dict.get(G);
    if (g !== undefined) { return g; }
    let files = [];
    try { files = fs.readdirSync(APPS); } catch (e) { files = []; }
    files.forEach(function (f) {
        if (!f.endsWith('.json')) { return; }
        try { put(JSON.parse(fs.readFileSync(APPS + '/' + f))); } catch (e) {
            ngx.log(ngx.ERR, 'greenroom: unreadable state ' + f + ': ' + e);
        }
    });
    dict.add(G, 'L');  // a retire set meanwhile is kept
    return dict.get(G);
}

function appFor(host) {
    let app = dict.get(H + host);
    let i = host.indexOf('.');
    while (!app && i > -1) {
        app = dict.get(H + '*' + host.slice(i));
        i = host.indexOf('.', i + 1);
    }
    return app;
}

function internal(host) {
    return host === INTERNAL.slice(1) || host.endsWith(INTERNAL);
}

function target(r) {
    const g = load();
    // A reload is about to replace this generation's workers: until it has, every response
    // of theirs closes its connection (the clients reconnect, to the new workers once they run).
    if (g.length > 1 && g.slice(1) === r.variables.gr_generation) { r.variables.gr_retiring = '1'; }
    let host = (r.headersIn.host || '').toLowerCase();
    const colon = host.lastIndexOf(':');
    if (colon > -1 && host.indexOf(']') < colon) { host = host.slice(0, colon); }
    if (internal(host) && r.remoteAddress !== LOCAL) { return 'none'; }
    const app = appFor(host);
    if (!app) { return 'none'; }
    // tls.js keeps the app's HSTS value: the HTTPS server sends it (no read over plain HTTP)
    if (r.variables.https) { r.variables.gr_hsts = dict.get('x:' + app) || ''; }
    const rt = dict.get(R + app);
    if (!rt) { return 'none'; }
    const f = rt.split('\n');  // maintenance, targets, staged
    if (f[0] === '1') { return 'maintenance'; }
    let t = f[1];
    if (f[2]) { t = staged(r, app, host, f[2].split('|'), t); }
    if (!t) { return 'none'; }
    if (t.indexOf(' ') < 0) { return t; }
    // replicas: a random one per request (no state is shared between requests' VMs)
    const list = t.split(' ');
    return list[Math.floor(Math.random() * list.length)];
}

// FNV-1a: the same client hashes to the same bucket on every host of a fleet
function hash(text) {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
        h ^= text.charCodeAt(i);
        h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h;
}

function cookie(r, name) {
    const all = r.headersIn.cookie || r.headersIn.Cookie || '';
    const parts = all.split(';');
    for (let i = 0; i < parts.length; i++) {
        const p = parts[i].trim();
        if (p.startsWith(name + '=')) { return p.slice(name.length + 1); }
    }
    return undefined;
}

// The client's bucket, 0 to 9999: its sticky header's hash, else its canary cookie (set
// by the proxy, holding the bucket), else its address's hash (and the cookie is set).
function bucket(r, f) {
    if (f[5]) {
        const v = r.headersIn[f[5]];
        if (v) { return hash(v) % 10000; }
    }
    const name = f[6] || 'greenroom_canary';
    const v = cookie(r, name);
    if (v !== undefined && /^[0-9]{1,4}$/.test(v)) { return +v; }
    const b = (v ? hash(v) : hash(r.remoteAddress || '')) % 10000;
    r.variables.gr_cookie = name + '=' + b + '; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax';
    return b;
}

function staged(r, app, host, f, live) {
    r.variables.gr_app = app;
    let on = dict.get(V + host) === '1'
        || (f[3] !== '' && !!r.headersIn[f[3]])
        || (f[4] !== '' && cookie(r, f[4]) !== undefined);
    if (!on && +f[0] > 0) { on = bucket(r, f) < +f[0]; }
    r.variables.gr_color = on ? f[1] : f[2];
    return on ? f[7] : live;
}

function latencyBucket(ms) {
    for (let i = 0; i < LATENCY_MS.length; i++) {
        if (ms <= LATENCY_MS[i]) { return i; }
    }
    return LATENCY_MS.length;
}

// Called at the log phase (an access_log's `if=`): counts the request, logs nothing.
function count(r) {
    const app = r.variables.gr_app;
    if (!app) { return ''; }
    const k = app + '|' + r.variables.gr_color + '|';
    stats.incr(k + 'n', 1, 0);
    const status = +r.variables.status;
    if (status >= 500) {
        stats.incr(k + 'e', 1, 0);
        const header = r.variables.upstream_header_time || '-';
        if (header.indexOf('-') > -1) { stats.incr(k + 'u', 1, 0); }
    }
    stats.incr(k + 'l' + latencyBucket(parseFloat(r.variables.request_time) * 1000), 1, 0);
    return '';
}

function writeAtomic(path, text) {
    fs.writeFileSync(path + '.tmp', text);
    fs.renameSync(path + '.tmp', path);
}

function mkdirs() {
    [DIR, APPS, HISTORY].forEach(function (d) {
        try { fs.mkdirSync(d); } catch (e) { /* exists */ }
    });
}

function admin(r) {
    load();
    const parts = r.uri.split('/');  // ['', 'greenroom', kind, name]
    const kind = parts[2];
    const name = parts[3] || '';
    if (name && !/^[a-z][a-z0-9-]{0,30}$/.test(name)) { return r.return(400, 'bad app name\n'); }
    try {
        if (kind === 'state' && r.method === 'GET') {
            const out = {};
            dict.keys().forEach(function (k) {
                if (k.startsWith(S)) { out[k.slice(S.length)] = JSON.parse(dict.get(k)); }
            });
            return r.return(200, JSON.stringify(out) + '\n');
        }
        if (kind === 'app' && name && r.method === 'POST') {
            const st = JSON.parse(r.requestText);
            st.app = name;
            mkdirs();
            writeAtomic(APPS + '/' + name + '.json', JSON.stringify(st));
            put(st);
            return r.return(200, JSON.stringify(st) + '\n');
        }
        if (kind === 'app' && name && r.method === 'DELETE') {
            try { fs.unlinkSync(APPS + '/' + name + '.json'); } catch (e) { /* gone */ }
            drop(name);
            return r.return(200, '{}\n');
        }
        if (kind === 'stats' && name && r.method === 'GET') {
            const out = {};
            stats.keys().forEach(function (k) {
                if (k.startsWith(name + '|')) { out[k.slice(name.length + 1)] = stats.get(k); }
            });
            return r.return(200, JSON.stringify(out) + '\n');
        }
        if (kind === 'retire' && r.method === 'POST') {
            dict.set(G, 'L' + r.requestText.trim());
            dict.set('retire', r.requestText.trim());  // for workers of a greenroom.js before G
            return r.return(200, '{}\n');
        }
        if (kind === 'retire' && r.method === 'DELETE') {
            dict.set(G, 'L');
            dict.delete('retire');
            return r.return(200, '{}\n');
        }
        if (kind === 'history' && name && r.method === 'POST') {
            mkdirs();
            fs.appendFileSync(HISTORY + '/' + name + '.jsonl', JSON.stringify(JSON.parse(r.requestText)) + '\n');
            return r.return(200, '{}\n');
        }
        if (kind === 'history' && name && r.method === 'GET') {
            let text = '';
            try { text = fs.readFileSync(HISTORY + '/' + name + '.jsonl', 'utf8'); } catch (e) { text = ''; }
            return r.return(200, text);
        }
    } catch (e) {
        return r.return(500, 'greenroom admin: ' + e + '\n');
    }
    return r.return(404, 'no such admin call\n');
}

export default { target, admin, count };
