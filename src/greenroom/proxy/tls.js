// greenroom's HTTPS inside the proxy: each handshake's certificate comes from the shared
// dict (key + chain PEM per app, chosen by SNI among the hosts of apps with tls), so a new
// or renewed certificate is one admin call, never a reload: handshakes after it get the new
// one, keep-alive connections keep theirs. State lives in /var/lib/greenroom/tls (the state
// volume): <app>.pem (0600, the key material, put there by greenroom through the engine's
// archive API) and <app>.json (hosts, options, what the certificate is; no key).
const fs = require('fs');
const DIR = '/var/lib/greenroom/tls';
const CHALLENGE = '/.well-known/acme-challenge/';
const dict = ngx.shared.greenroom;

function put(app, meta, pem) {
    // the material first, then the names: a handshake in between finds the old or the new
    dict.set('p:' + app, pem);
    const hosts = meta.hosts || [];
    hosts.forEach(function (h) { dict.set('k:' + h, app); });
    const old = dict.get('o:' + app);
    if (old) {
        (JSON.parse(old).hosts || []).forEach(function (h) {
            if (hosts.indexOf(h) < 0 && dict.get('k:' + h) === app) { dict.delete('k:' + h); }
        });
    }
    dict.set('o:' + app, JSON.stringify(meta));
    if (meta.hsts) { dict.set('x:' + app, 'max-age=' + meta.hsts); } else { dict.delete('x:' + app); }
}

function drop(app) {
    const old = dict.get('o:' + app);
    if (old) {
        (JSON.parse(old).hosts || []).forEach(function (h) {
            if (dict.get('k:' + h) === app) { dict.delete('k:' + h); }
        });
    }
    dict.delete('o:' + app);
    dict.delete('p:' + app);
    dict.delete('x:' + app);
}

function load() {
    if (dict.get('tls-loaded') === '1') { return; }
    let files = [];
    try { files = fs.readdirSync(DIR); } catch (e) { files = []; }
    files.forEach(function (f) {
        if (!f.endsWith('.json')) { return; }
        const app = f.slice(0, -5);
        try {
            put(app, JSON.parse(fs.readFileSync(DIR + '/' + f)), fs.readFileSync(DIR + '/' + app + '.pem', 'utf8'));
        } catch (e) {
            ngx.log(ngx.ERR, 'greenroom: unreadable TLS state of ' + app + ': ' + e);
        }
    });
    dict.set('tls-loaded', '1');
}

function lookup(host) {
    let app = dict.get('k:' + host);
    let i = host.indexOf('.');
    while (!app && i > -1) {
        app = dict.get('k:*' + host.slice(i));
        i = host.indexOf('.', i + 1);
    }
    return app;
}

function hostOf(r) {
    let host = (r.headersIn.host || '').toLowerCase();
    const colon = host.lastIndexOf(':');
    if (colon > -1 && host.indexOf(']') < colon) { host = host.slice(0, colon); }
    return host;
}

function meta(app) {
    const m = app ? dict.get('o:' + app) : null;
    return m ? JSON.parse(m) : null;
}

// $gr_tls: the handshake's key + chain; '' (a handshake failure) for a name no app has.
// Per handshake: the name's app, then its PEM (the files are read only if the name has none).
function cert(r) {
    const name = (r.variables.ssl_server_name || '').toLowerCase();
    let app = lookup(name);
    if (!app && dict.get('tls-loaded') !== '1') {
        load();
        app = lookup(name);
    }
    return (app && dict.get('p:' + app)) || '';
}

// $gr_redirect: plain HTTP to a host of an app with tls (and redirect on) goes to https://
function redirect(r) {
    load();
    if (r.variables.gr_forwarded_proto === 'https' || r.uri.startsWith(CHALLENGE)) { return ''; }
    // greenroom's confirm probe asks from inside the proxy over plain HTTP
    if (r.remoteAddress === '127.0.0.1' && r.headersIn['X-Greenroom-Probe'] === '1') { return ''; }
    const m = meta(lookup(hostOf(r)));
    if (!m || m.redirect === false) { return ''; }
    // the port clients reach HTTPS on ($gr_https_port, from proxy.ports or proxy.https_port)
    const port = r.variables.gr_https_port || '443';
    return 'https://' + r.variables.host + (port === '443' ? '' : ':' + port) + r.variables.request_uri;
}

// $gr_challenge: the key authorization of an ACME HTTP-01 token greenroom pushed
function challenge(r) {
    const token = r.uri.slice(CHALLENGE.length);
    return (/^[A-Za-z0-9_-]{1,256}$/.test(token) && dict.get('a:' + token)) || '';
}

function writeAtomic(path, text) {
    fs.writeFileSync(path + '.tmp', text);
    fs.renameSync(path + '.tmp', path);
}

function admin(r) {
    load();
    const parts = r.uri.split('/');  // ['', 'greenroom', kind, name]
    const kind = parts[2];
    const name = parts[3] || '';
    try {
        if (kind === 'tls' && !name && r.method === 'GET') {
            const out = {};
            dict.keys().forEach(function (k) {
                if (k.startsWith('o:')) { out[k.slice(2)] = JSON.parse(dict.get(k)); }
            });
            return r.return(200, JSON.stringify(out) + '\n');
        }
        if (kind === 'tls' && /^[a-z][a-z0-9-]{0,30}$/.test(name)) {
            const base = DIR + '/' + name;
            if (r.method === 'POST') {
                // greenroom put the material in <app>.pem.new (the first instance moves it)
                try { fs.renameSync(base + '.pem.new', base + '.pem'); } catch (e) { /* moved */ }
                const m = JSON.parse(r.requestText);
                const pem = fs.readFileSync(base + '.pem', 'utf8');
                if (pem.indexOf('PRIVATE KEY-----') < 0 || pem.indexOf('BEGIN CERTIFICATE') < 0) {
                    return r.return(400, 'no key and certificate in ' + base + '.pem\n');
                }
                writeAtomic(base + '.json', JSON.stringify(m));
                put(name, m, pem);
                return r.return(200, JSON.stringify(m) + '\n');
            }
            if (r.method === 'DELETE') {
                [base + '.json', base + '.pem'].forEach(function (f) {
                    try { fs.unlinkSync(f); } catch (e) { /* gone */ }
                });
                drop(name);
                return r.return(200, '{}\n');
            }
        }
        if (kind === 'challenge' && /^[A-Za-z0-9_-]{1,256}$/.test(name)) {
            if (r.method === 'POST') {
                dict.set('a:' + name, r.requestText.trim());
                return r.return(200, '{}\n');
            }
            if (r.method === 'DELETE') {
                dict.delete('a:' + name);
                return r.return(200, '{}\n');
            }
        }
    } catch (e) {
        return r.return(500, 'greenroom tls admin: ' + e + '\n');
    }
    return r.return(404, 'no such admin call\n');
}

export default { cert, redirect, challenge, admin };
