// mailharness_maildir: the local delivery of the Haraka started by ci/servers/start-haraka.sh.
//
// RCPT: a recipient in one of the local domains is accepted when its local part (after the aliases)
// is a known user, refused with 550 otherwise; other domains are left to Haraka (refused unless the
// client authenticated, then relayed).
// QUEUE: each message is written, as the final delivery, into <home>/<maildir>/ of every local
// recipient: a Return-Path field with the envelope sender first (RFC 5321 §4.4), then the message as
// Haraka received it (dot-stuffing removed, LF line ends as in any Maildir), to tmp/ and then renamed
// into new/ (the Maildir protocol), owned by the user, so Dovecot serves it.
// QUEUE_OUTBOUND (authenticated relay): discarded. Nothing leaves the machine.
//
// Configuration: config/mailharness_maildir.ini
//   [main]    domains = example.test,localhost   maildir = Maildir-haraka
//   [users]   <login> = <home directory>         (the directory's owner owns the delivered files)
//   [aliases] <local part> = <login>
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

let counter = 0

exports.register = function () {
    this.load_ini()
}

exports.load_ini = function () {
    this.cfg = this.config.get('mailharness_maildir.ini', () => this.load_ini())
    const main = this.cfg.main || {}
    this.domains = String(main.domains || '').toLowerCase().split(/[\s,]+/).filter(Boolean)
    this.maildir = main.maildir || 'Maildir-haraka'
    this.users = this.cfg.users || {}
    this.aliases = this.cfg.aliases || {}
}

exports.login_for = function (address) {
    // Haraka hands plugins @haraka/email-address objects whose host/address may be callable
    // string proxies (its legacy shim): String() works with either form.
    const host = String(address.host ?? '').toLowerCase()
    const local = String(address.user ?? '').toLowerCase()
    // RCPT TO:<postmaster> without a domain is the local postmaster (RFC 5321 §4.1.1.3).
    const bare_postmaster = !host && local === 'postmaster'
    if (!bare_postmaster && (!host || !this.domains.includes(host))) return undefined
    const login = Object.hasOwn(this.aliases, local) ? this.aliases[local] : local
    return Object.hasOwn(this.users, login) ? login : null
}

exports.hook_rcpt = function (next, connection, params) {
    const login = this.login_for(params[0])
    if (login === undefined) return next()           // not a local domain
    if (login === null) return next(DENY, 'No such user here')
    next(OK)
}

exports.hook_queue = function (next, connection) {
    const txn = connection.transaction
    const logins = [...new Set(txn.rcpt_to.map((r) => this.login_for(r)).filter(Boolean))]
    if (logins.length === 0) return next(OK)         // only foreign recipients (relay): discard
    txn.message_stream.get_data({ line_endings: '\n' }, (body) => {
        const sender = txn.mail_from.isNull() ? '' : String(txn.mail_from.address)
        const data = Buffer.concat([Buffer.from(`Return-Path: <${sender}>\n`), body])
        try {
            for (const login of logins) this.deliver(this.users[login], data)
        } catch (err) {
            connection.logerror(this, `delivery failed: ${err.message}`)
            return next(DENYSOFT, 'Local delivery failed, try again later')
        }
        next(OK, 'Delivered')
    })
}

exports.hook_queue_outbound = function (next) {
    next(OK, 'Discarded (mailharness test server)')
}

exports.deliver = function (home, data) {
    const st = fs.statSync(home)
    const root = path.join(home, this.maildir)
    for (const dir of [root, path.join(root, 'tmp'), path.join(root, 'new'), path.join(root, 'cur')]) {
        if (!fs.existsSync(dir)) {
            fs.mkdirSync(dir, { mode: 0o700 })
            fs.chownSync(dir, st.uid, st.gid)
        }
    }
    const now = Date.now()
    counter += 1
    const name = `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${process.pid}Q${counter}.${os.hostname()}`
    const tmp = path.join(root, 'tmp', name)
    fs.writeFileSync(tmp, data, { mode: 0o600 })
    fs.chownSync(tmp, st.uid, st.gid)
    fs.renameSync(tmp, path.join(root, 'new', name))
}
