// The Cellcast page's axios sample (seeds/002_*: "Unsubscribe Virtual
// Number") against linekeeper, with axios pinned in package-lock.json.
//
// Run by tests/clients/run.sh, which passes:
//   LK_URL       the server, e.g. http://127.0.0.1:40123 (replaces https://api.cellcast.com)
//   LK_USER_KEY  API key of the user that owns LK_VN_ID
//   LK_VN_ID     the number's uid (24 hex)
//
// unsubscribeVirtualNumber() is the sample's function. Changed: the host, id
// and key come from the environment, and it returns what it got (status and
// parsed body) instead of printing it, so that it can be checked. And one
// fix, marked FIX below: the sample passes its `{headers: ...}` object as
// axios.put's second argument, which is the request *body*, so it sends no
// Authorization header at all (and gets 401 Invalid token, from Cellcast as
// from linekeeper). The fix is the minimal one: an empty body `{}` as the
// second argument, so that the headers object is the third, the config.

const assert = require('node:assert');
const axios = require('axios');

async function unsubscribeVirtualNumber(id) {
    // const id = '66ea98514f0c1a121c76ec17'; // Replace with the virtual number ID
    const url = `${process.env.LK_URL}/api/v1/apiClient/virtual-number/unsubscribe/${id}`;
    const apiKey = process.env.LK_USER_KEY; // Replace with your actual API key

    try {
        // FIX: `{},` added; the sample has `axios.put(url, { headers: ... })`.
        const response = await axios.put(url, {}, {
            headers: {
                Authorization: `Bearer ${apiKey}`,
                'Content-Type': 'application/json',
            },
        });

        return { status: response.status, data: response.data };
    } catch (error) {
        if (!error.response) throw error;
        return { status: error.response.status, data: error.response.data };
    }
}

const SUCCESS = {
    app_type: 'web',
    app_version: '1.0',
    maintainence: 0,
    new_version: 0,
    force_update: 0,
    invalid_token: 0,
    refresh_token: '',
    show_message: 1,
    is_enc: false,
    status: true,
    message: 'Virtual number has been unsubscribed successfully.',
    message_type: 'toast',
    data: {},
    error: {},
};

const NOT_FOUND = {
    code: 404,
    message: 'Virtual number not found',
    stack: 'APIError: Virtual number not found',
};

let failed = 0;

function report(name, ok, detail) {
    if (!ok) failed += 1;
    console.log(`${ok ? 'PASS' : 'FAIL'} node axios ${axios.VERSION}: ${name}${!ok && detail ? ` -- ${detail}` : ''}`);
}

// The whole parsed body must equal `body` (VN_API.md: every field of the
// success envelope is present in this order, so the key order is compared
// too), and the status `status`.
async function check(name, status, body) {
    let got;
    try {
        got = await unsubscribeVirtualNumber(process.env.LK_VN_ID);
    } catch (error) {
        report(name, false, `${error.code || error.name}: ${error.message}`);
        return;
    }
    const shown = `got HTTP ${got.status} ${JSON.stringify(got.data)}`;
    try {
        assert.strictEqual(got.status, status);
        assert.deepStrictEqual(got.data, body);
        assert.deepStrictEqual(Object.keys(got.data), Object.keys(body));
    } catch (_) {
        report(name, false, `want HTTP ${status} ${JSON.stringify(body)}; ${shown}`);
        return;
    }
    report(name, true);
}

(async () => {
    await check('PUT /unsubscribe/:id: 200 success envelope', 200, SUCCESS);
    await check('second PUT /unsubscribe/:id: 404 Virtual number not found', 404, NOT_FOUND);
    process.exitCode = failed ? 1 : 0;
})().catch((error) => {
    console.log(`FAIL node axios: ${error.stack || error}`);
    process.exitCode = 1;
});
