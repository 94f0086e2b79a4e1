// greenroom's routing inside the proxy: read per request from a shared dict, so that a
// color switch, an app added or maintenance mode never needs an nginx reload.
// State per app lives in /var/lib/greenroom/apps/<app>.json (a volume) and is loaded into
// the dict after any restart; the admin API (127.0.0.1 only) writes file, then dict.
const fs = require('fs');
const DIR = '/var/lib/greenroom';
const APPS = DIR + '/apps';
const HISTORY = DIR + '/history';
const dict = ngx.shared.greenroom;
// APP.greenroom.internal names every app, for greenroom's own confirm probe, which asks
// from 127.0.0.1 inside the proxy: from anywhere else such a host has no app (404)
const INTERNAL = '.greenroom.internal';
const LOCAL = '127.0.0.1';
let turn = 0;

function put(st) {
    // new keys first, stale ones after: a request in between never finds the host unmapped
    const hosts = st.hosts || [];
    dict.set('t:' + st.app, (st.targets || []).join(' '));
    dict.set('m:' + st.app, st.maintenance ? '1' : '0');
    hosts.forEach(function (h) { dict.set('h:' + h, st.app); });
    const old = dict.get('s:' + st.app);
    if (old) {
        (JSON.parse(old).hosts || []).forEach(function (h) {
            if (hosts.indexOf(h) < 0 && dict.get('h:' + h) === st.app) { dict.delete('h:' + h); }
        });
    }
    dict.set('s:' + st.app, JSON.stringify(st));
}

function drop(app) {
    const old = dict.get('s:' + app);
    if (old) {
        (JSON.parse(old).hosts || []).forEach(function (h) {
            if (dict.get('h:' + h) === app) { dict.delete('h:' + h); }
        });
    }
    dict.delete('t:' + app);
    dict.delete('m:' + app);
    dict.delete('s:' + app);
}

function load() {
    if (dict.get('loaded') === '1') { return; }
    let files = [];
    try { files = fs.readdirSync(APPS); } catch (e) { files = []; }
    files.forEach(function (f) {
        if (!f.endsWith('.json')) { return; }
        try { put(JSON.parse(fs.readFileSync(APPS + '/' + f))); } catch (e) {
            ngx.log(ngx.ERR, 'greenroom: unreadable state ' + f + ': ' + e);
        }
    });
    dict.set('loaded', '1');
}

function appFor(host) {
    let app = dict.get('h:' + host);
    let i = host.indexOf('.');
    while (!app && i > -1) {
        app = dict.get('h:*' + host.slice(i));
        i = host.indexOf('.', i + 1);
    }
    return app;
}

function internal(host) {
    return host === INTERNAL.slice(1) || host.endsWith(INTERNAL);
}

function target(r) {
    load();
    // A reload is about to replace this generation's workers: until it has, every response
    // of theirs closes its connection (the clients reconnect, to the new workers once they run).
    if (dict.get('retire') === r.variables.gr_generation) { r.variables.gr_retiring = '1'; }
    let host = (r.headersIn.host || '').toLowerCase();
    const colon = host.lastIndexOf(':');
    if (colon > -1 && host.indexOf(']') < colon) { host = host.slice(0, colon); }
    if (internal(host) && r.remoteAddress !== LOCAL) { return 'none'; }
    const app = appFor(host);
    if (!app) { return 'none'; }
    r.variables.gr_hsts = dict.get('x:' + app) || '';  // tls.js keeps it: sent on HTTPS only
    if (dict.get('m:' + app) === '1') { return 'maintenance'; }
    const t = dict.get('t:' + app);
    if (!t) { return 'none'; }
    const list = t.split(' ');
    turn = (turn + 1) % 1048576;
    return list[turn % list.length];
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
                if (k.startsWith('s:')) { out[k.slice(2)] = JSON.parse(dict.get(k)); }
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
        if (kind === 'retire' && r.method === 'POST') {
            dict.set('retire', r.requestText.trim());
            return r.return(200, '{}\n');
        }
        if (kind === 'retire' && r.method === 'DELETE') {
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

export default { target, admin };
