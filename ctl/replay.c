/*
 * replay: sends stored events, oldest first, to another endpoint as their provider would —
 * the body bytes as received (payload's canonical jsonb text for rows stored without them:
 * before schema v4 or with keep_body off; counted), signed now with the provider's scheme
 * over exactly those bytes (common/provider_sign.c: Zoom's x-zm-request-timestamp and v0
 * signature, ...), plus what was stored of the delivery's own headers (x-zm-request-id, the
 * headers column: Standard Webhooks' webhook-id, GitHub's X-GitHub-Event, ...). One replay
 * sends one provider's events (--provider, else --source's, else zoom). The main thread
 * reads one snapshot through a cursor into a bounded queue; --concurrency threads send,
 * each on its own keep-alive connection (one libcurl handle), under one shared --rate, each
 * exchange bounded by --timeout; non-2xx answers, connection errors and missed deadlines are
 * retried with backoff, then counted. Exit 0 only when every event got a 2xx.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "backoff.h"
#include "ctl.h"
#include "http_client.h"
#include "progress.h"
#include "provider.h"
#include "provider_sign.h"
#include "replay_headers.h"
#include "secret_file.h"
#include "text.h"
#include "timeutil.h"

#define REPLAY_QUEUE_CAP 256
#define REPLAY_FETCH 500 /* rows per FETCH from the cursor */
#define REPLAY_STR_(x) #x
#define REPLAY_STR(x) REPLAY_STR_(x) /* a number macro's value as a string literal */
#define REPLAY_MAX_THREADS 64
#define REPLAY_DEFAULT_SINCE_DAYS 30 /* without --since: the events received since then */

struct replay_job {
    char id[24]; /* events.id, for messages */
    char *body;  /* the bytes to send */
    size_t len;
    char *request_id;              /* x-zm-request-id value (zoom), NULL when none */
    struct replay_headers carried; /* the stored headers of the delivery, sent again */
};

struct replay {
    const char *to; /* the --to URL, checked */
    const char *cacert;
    bool insecure;
    enum provider_id provider;    /* the events' and the target's provider */
    struct provider_sign_key key; /* the target's secret, loaded for provider */
    double rate;                  /* events per second, 0 = unlimited */
    long retries;                 /* extra attempts after the first */
    long timeout_s;               /* bounds each whole exchange */
    bool tty;                     /* stderr is a terminal: progress bar */

    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full, tick;
    struct replay_job *queue[REPLAY_QUEUE_CAP];
    size_t head, count;
    bool producer_done;
    bool finished;    /* every sender returned (for the progress thread) */
    double next_slot; /* the rate limiter's next free send time (monotonic s) */

    atomic_ullong ok, failed, retried;
    unsigned long long total;
    unsigned long long canonical; /* rows sent as payload text: no stored body */
    unsigned long long others;    /* rows in the selection of another provider: left out */
    double started;

    pthread_t senders[REPLAY_MAX_THREADS], progress;
    long nsenders;         /* --concurrency; once started, the senders running */
    bool progress_started; /* the progress thread runs */
};

static void replay_job_free(struct replay_job *j)
{
    if (j == NULL)
        return;
    free(j->body);
    free(j->request_id);
    replay_headers_free(&j->carried);
    free(j);
}

static void replay_sleep(double s)
{
    struct timespec ts;

    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits for this send's slot under --rate. */
static void replay_rate_wait(struct replay *rp)
{
    double now, at;

    if (rp->rate <= 0)
        return;
    pthread_mutex_lock(&rp->mu);
    now = monotonic_s();
    at = rp->next_slot > now ? rp->next_slot : now;
    rp->next_slot = at + 1.0 / rp->rate;
    pthread_mutex_unlock(&rp->mu);
    replay_sleep(at - now);
}

static void replay_message(struct replay *rp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void replay_message(struct replay *rp, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&rp->mu);
    fprintf(stderr, "%s" CTL_PROG ": replay: ", rp->tty ? "\r\033[K" : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&rp->mu);
}

/*
 * The header lines of one attempt into lines (NULL-terminated): the signature's, signed now,
 * then x-zm-request-id (zoom) and the carried headers the signature does not set. 0, or -1
 * with why when the event cannot be signed.
 */
static int replay_headers(struct replay *rp, const struct replay_job *j,
                          struct provider_sign_headers *sig, char *h_id, size_t h_id_cap,
                          const char *lines[], const char **why)
{
    size_t n = 0;
    const char *id = j->carried.sign_id;

    if (provider_sign(&rp->key, id, id != NULL ? strlen(id) : 0, (long long)time(NULL), j->body,
                      j->len, sig, why) < 0)
        return -1;
    for (size_t i = 0; i < sig->n; i++)
        lines[n++] = sig->line[i];
    if (rp->provider == PROVIDER_ZOOM && j->request_id != NULL) {
        snprintf(h_id, h_id_cap, "x-zm-request-id: %s", j->request_id);
        lines[n++] = h_id;
    }
    for (size_t i = 0; i < j->carried.n; i++) {
        const char *line = j->carried.line[i], *colon = strchr(line, ':');
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - line), line);
        if (!provider_sign_sets(sig, name)) /* webhook-id, webhook-timestamp: signed anew */
            lines[n++] = line;
    }
    lines[n] = NULL;
    return 0;
}

/* Sends one event until a 2xx or out of attempts. true when it got a 2xx. */
static bool replay_send(struct replay *rp, struct http_client *hc, const struct replay_job *j)
{
    struct backoff b;
    char err[512] = "";
    int status = -1, retry_after = -1;

    backoff_init(&b, 200, 10000);
    for (long attempt = 0;; attempt++) {
        struct provider_sign_headers sig;
        char h_id[1100];
        const char *headers[PROVIDER_SIGN_HEADERS + 1 + PROVIDER_HEADERS_MAX + 1];
        const char *why;
        replay_rate_wait(rp);
        if (replay_headers(rp, j, &sig, h_id, sizeof(h_id), headers, &why) < 0) {
            replay_message(rp, "event %s: cannot sign as %s: %s", j->id,
                           provider_get(rp->provider)->name, why);
            return false;
        }
        status = http_client_post(hc, headers, j->body, j->len, &retry_after, err, sizeof(err));
        if (status >= 200 && status < 300)
            return true;
        if (attempt >= rp->retries)
            break;
        atomic_fetch_add(&rp->retried, 1);
        {
            /* the backoff, or longer when the target asks for it (at most a minute) */
            double wait = backoff_next(&b) / 1000.0;
            if (retry_after > wait)
                wait = retry_after < 60 ? retry_after : 60;
            replay_sleep(wait);
        }
    }
    if (status < 0)
        replay_message(rp, "event %s: %s (gave up after %ld attempt%s)", j->id, err,
                       rp->retries + 1, rp->retries == 0 ? "" : "s");
    else
        replay_message(rp, "event %s: HTTP %d (gave up after %ld attempt%s)", j->id, status,
                       rp->retries + 1, rp->retries == 0 ? "" : "s");
    return false;
}

static void *replay_sender(void *arg)
{
    struct replay *rp = arg;
    struct http_client *hc =
        http_client_new(rp->to, rp->cacert, rp->insecure, rp->timeout_s * 1000L);

    for (;;) {
        struct replay_job *j;
        pthread_mutex_lock(&rp->mu);
        while (rp->count == 0 && !rp->producer_done)
            pthread_cond_wait(&rp->not_empty, &rp->mu);
        if (rp->count == 0) {
            pthread_mutex_unlock(&rp->mu);
            break;
        }
        j = rp->queue[rp->head];
        rp->head = (rp->head + 1) % REPLAY_QUEUE_CAP;
        rp->count--;
        pthread_cond_signal(&rp->not_full);
        pthread_mutex_unlock(&rp->mu);
        if (hc != NULL && replay_send(rp, hc, j))
            atomic_fetch_add(&rp->ok, 1);
        else
            atomic_fetch_add(&rp->failed, 1);
        replay_job_free(j);
    }
    http_client_free(hc);
    return NULL;
}

static void replay_draw(struct replay *rp, bool final)
{
    char line[256];
    unsigned long long done = atomic_load(&rp->ok) + atomic_load(&rp->failed);

    progress_bar(done, rp->total, monotonic_s() - rp->started, 30, line, sizeof(line));
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    fflush(stderr);
}

static void *replay_progress(void *arg)
{
    struct replay *rp = arg;

    pthread_mutex_lock(&rp->mu);
    while (!rp->finished) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rp->tick, &rp->mu, &until);
        replay_draw(rp, rp->finished);
    }
    pthread_mutex_unlock(&rp->mu);
    return NULL;
}

/* Hands a job to the senders (blocks while the queue is full). Takes ownership. */
static void replay_put(struct replay *rp, struct replay_job *j)
{
    pthread_mutex_lock(&rp->mu);
    while (rp->count == REPLAY_QUEUE_CAP)
        pthread_cond_wait(&rp->not_full, &rp->mu);
    rp->queue[(rp->head + rp->count) % REPLAY_QUEUE_CAP] = j;
    rp->count++;
    pthread_cond_signal(&rp->not_empty);
    pthread_mutex_unlock(&rp->mu);
}

/* The header value for a stored (percent-encoded) request id, or NULL for none. */
static char *replay_request_id(const char *stored)
{
    char dec[1024];
    long n;

    if (stored == NULL || stored[0] == '\0' || strcmp(stored, "-") == 0)
        return NULL;
    n = percent_decode(stored, strlen(stored), dec, sizeof(dec), 0);
    if (n < 0)
        return strdup(stored);
    for (long i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)dec[i];
        if (ch < 0x20 || ch == 0x7f)
            return strdup(stored); /* not sendable as is: the stored (encoded) form */
    }
    return strdup(dec);
}

struct replay_args {
    const char *to, *secret, *secret_file, *secret_env, *source, *event, *since, *until;
    const char *provider;
    const char *rate, *concurrency, *retries, *timeout, *cacert;
    bool insecure, dry_run;
};

/* The WHERE clause (after "WHERE true") that picks the events, and its parameters. */
struct replay_query {
    char where[512 + CTL_EVENT_TIME_WHERE_LEN];
    const char *params[5];
    int nparams;
    int provider_param; /* the parameter number of the provider (0: no provider column) */
    char *like;         /* --event as a LIKE pattern; freed by the caller */
    char since_txt[48], until_txt[48]; /* the time parameters' text */
};

/*
 * The options: rp gets --to, --cacert, --insecure, --rate, --retries, --timeout and
 * --concurrency. CTL_OK, or CTL_USAGE after one line.
 */
static int replay_options(int argc, char **argv, struct replay_args *a, struct replay *rp)
{
    struct args_opt opts[] = {
        {"--to", &a->to, NULL},
        {"--secret", &a->secret, NULL},
        {"--secret-file", &a->secret_file, NULL},
        {"--secret-env", &a->secret_env, NULL},
        {"--source", &a->source, NULL},
        {"--provider", &a->provider, NULL},
        {"--event", &a->event, NULL},
        {"--since", &a->since, NULL},
        {"--until", &a->until, NULL},
        {"--rate", &a->rate, NULL},
        {"--concurrency", &a->concurrency, NULL},
        {"--retries", &a->retries, NULL},
        {"--timeout", &a->timeout, NULL},
        {"--cacert", &a->cacert, NULL},
        {"--insecure", NULL, &a->insecure},
        {"--dry-run", NULL, &a->dry_run},
    };
    char err[ARGS_ERR_LEN] = "";
    const char *why;
    bool tls = false;
    size_t npos;
    int nsecrets;

    memset(a, 0, sizeof(*a));
    rp->retries = 5;
    rp->timeout_s = 30;
    rp->nsenders = 4;
    if (args_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, &npos, err,
                   sizeof(err)) < 0) {
        ctl_err("replay: %s", err);
        return CTL_USAGE;
    }
    if (a->to == NULL) {
        ctl_err("replay: needs --to URL");
        return CTL_USAGE;
    }
    if (http_client_url_check(a->to, &tls, &why) < 0) {
        ctl_err("replay: bad --to URL: %s", why);
        return CTL_USAGE;
    }
    if (a->secret != NULL) { /* parsed only to be refused: argv shows in ps and /proc */
        ctl_err("replay: --secret is removed (the command line is visible to every local user); "
                "use --secret-file FILE or --secret-env VAR");
        return CTL_USAGE;
    }
    nsecrets = (a->secret_file != NULL) + (a->secret_env != NULL);
    if (nsecrets > 1 || (nsecrets == 0 && !a->dry_run)) {
        ctl_err("replay: give exactly one of --secret-file, --secret-env");
        return CTL_USAGE;
    }
    if ((a->cacert != NULL || a->insecure) && !tls) {
        ctl_err("replay: --cacert and --insecure need an https:// URL");
        return CTL_USAGE;
    }
    if (a->cacert != NULL && a->insecure) {
        ctl_err("replay: --cacert and --insecure exclude each other");
        return CTL_USAGE;
    }
    if (a->rate != NULL && args_double(a->rate, 1e6, &rp->rate) < 0) {
        ctl_err("replay: bad --rate \"%s\" (events per second, above 0)", a->rate);
        return CTL_USAGE;
    }
    if (a->concurrency != NULL &&
        args_long(a->concurrency, 1, REPLAY_MAX_THREADS, &rp->nsenders) < 0) {
        ctl_err("replay: bad --concurrency \"%s\" (1 to %d)", a->concurrency, REPLAY_MAX_THREADS);
        return CTL_USAGE;
    }
    if (a->retries != NULL && args_long(a->retries, 0, 100, &rp->retries) < 0) {
        ctl_err("replay: bad --retries \"%s\" (0 to 100)", a->retries);
        return CTL_USAGE;
    }
    if (a->timeout != NULL && args_long(a->timeout, 1, 3600, &rp->timeout_s) < 0) {
        ctl_err("replay: bad --timeout \"%s\" (1 to 3600 seconds)", a->timeout);
        return CTL_USAGE;
    }
    rp->to = a->to;
    rp->cacert = a->cacert;
    rp->insecure = a->insecure;
    return CTL_OK;
}

/* Appends one condition (printf-style, with the number of its parameter) to q->where. */
static void replay_where_add(struct replay_query *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void replay_where_add(struct replay_query *q, const char *fmt, ...)
{
    size_t used = strlen(q->where);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(q->where + used, sizeof(q->where) - used, fmt, ap);
    va_end(ap);
}

/*
 * --source, --event and the span [--since, --until) as q's WHERE clause, the span also as
 * event_time bounds, which prune the partitions. 0, or -1 after one line.
 */
static int replay_where(const struct ctl *ctl, const struct replay_args *a, struct replay_query *q)
{
    int64_t now = ctl_now_us(), t_since = 0, t_until = 0;
    const char *why;

    if (a->source != NULL) {
        q->params[q->nparams++] = a->source;
        replay_where_add(q, " AND source = $%d", q->nparams);
    }
    if (a->event != NULL) {
        q->like = malloc(2 * strlen(a->event) + 1);
        if (q->like == NULL || args_glob_to_like(a->event, q->like, 2 * strlen(a->event) + 1) < 0) {
            ctl_err("replay: bad --event pattern \"%s\"", a->event);
            return -1;
        }
        q->params[q->nparams++] = q->like;
        replay_where_add(q, " AND event LIKE $%d", q->nparams);
    }
    if (a->since != NULL && args_time(a->since, now, &t_since, &why) < 0) {
        ctl_err("replay: bad --since \"%s\": %s", a->since, why);
        return -1;
    }
    if (a->until != NULL && args_time(a->until, now, &t_until, &why) < 0) {
        ctl_err("replay: bad --until \"%s\": %s", a->until, why);
        return -1;
    }
    if (a->since == NULL) /* a bound for the scan: see REPLAY_DEFAULT_SINCE_DAYS */
        t_since = now - REPLAY_DEFAULT_SINCE_DAYS * 86400LL * 1000000;
    if (a->until != NULL && t_until <= t_since) {
        ctl_err("replay: --until must be later than --since (default: %d days ago)",
                REPLAY_DEFAULT_SINCE_DAYS);
        return -1;
    }
    args_time_format(t_since, q->since_txt, sizeof(q->since_txt));
    q->params[q->nparams++] = q->since_txt;
    replay_where_add(q, " AND received_at >= $%d::timestamptz AND ", q->nparams);
    /* the same span as event_time bounds, which prune the partitions */
    ctl_event_time_where(ctl, t_since, a->until != NULL ? t_until : now,
                         q->where + strlen(q->where), sizeof(q->where) - strlen(q->where));
    if (a->until != NULL) {
        args_time_format(t_until, q->until_txt, sizeof(q->until_txt));
        q->params[q->nparams++] = q->until_txt;
        replay_where_add(q, " AND received_at < $%d::timestamptz", q->nparams);
    }
    return 0;
}

/*
 * The target's secret from --secret-file (common/secret_file.c) or --secret-env into *out
 * (NULL for a dry run without one; caller wipes and frees). 0, or -1 after one line.
 */
static int replay_secret(const struct replay_args *a, char **out)
{
    char what[1100], why[1200];

    *out = NULL;
    if (a->secret_file != NULL) {
        snprintf(what, sizeof(what), "--secret-file %s", a->secret_file);
        *out = secret_file_read(a->secret_file, what, why, sizeof(why));
        if (*out == NULL) {
            ctl_err("replay: %s", why);
            return -1;
        }
    } else if (a->secret_env != NULL) {
        const char *v = getenv(a->secret_env);
        if (v == NULL || v[0] == '\0') {
            ctl_err("replay: environment variable %s is not set or empty", a->secret_env);
            return -1;
        }
        *out = strdup(v);
        if (*out == NULL) {
            ctl_err("out of memory");
            return -1;
        }
    }
    return 0;
}

/* --cacert, when a replay will use it: a readable PEM file. 0, or -1 after one line. */
static int replay_tls_check(const struct replay_args *a)
{
    char terr[512];

    if (a->cacert == NULL || a->dry_run)
        return 0;
    if (http_client_cacert_check(a->cacert, terr, sizeof(terr)) < 0) {
        ctl_err("replay: %s", terr);
        return -1;
    }
    return 0;
}

/*
 * Whether hookpipe.events has the provider and headers columns (migration 007). Without
 * them every row is a Zoom delivery. 0, or -1 after one line.
 */
static int replay_schema(PGconn *pg, PGresult **res, bool *has)
{
    if (!ctl_pg_query(pg, res, "reading the schema",
                      "SELECT count(*) FROM pg_attribute WHERE attrelid = "
                      "'hookpipe.events'::regclass AND attname IN ('provider', 'headers')"
                      " AND NOT attisdropped",
                      0, NULL, 0))
        return -1;
    *has = strcmp(PQgetvalue(*res, 0, 0), "2") == 0;
    return 0;
}

/*
 * Opens one snapshot for the count and the cursor: rp->total (the selection's events of
 * rp->provider; rp->others, those of other providers, left out), then (unless dry_run) the
 * cursor the senders are fed from. 0, or -1 after one line.
 */
static int replay_open(PGconn *pg, struct replay_query *q, bool dry_run, struct replay *rp)
{
    PGresult *res = NULL;
    char sql[1024], only[48] = "";
    bool has_provider = false;
    int ret = -1;

    if (!ctl_pg_query(pg, &res, "BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
                      0) ||
        replay_schema(pg, &res, &has_provider) < 0)
        goto done;
    if (!has_provider && rp->provider != PROVIDER_ZOOM) {
        ctl_err("replay: hookpipe.events has no provider column (a schema before migration 7, "
                "run hookpipe-writer --migrate): it holds Zoom events only, not %s",
                provider_get(rp->provider)->name);
        goto done;
    }
    if (has_provider) {
        q->params[q->nparams++] = provider_get(rp->provider)->name;
        q->provider_param = q->nparams;
        snprintf(only, sizeof(only), "provider = $%d", q->provider_param);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FILTER (WHERE %s), count(*) FROM hookpipe.events WHERE true%s",
                 only, q->where);
    } else {
        snprintf(sql, sizeof(sql), "SELECT count(*), count(*) FROM hookpipe.events WHERE true%s",
                 q->where);
    }
    if (!ctl_pg_query(pg, &res, "counting events", sql, q->nparams, q->params, 0))
        goto done;
    rp->total = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    rp->others = strtoull(PQgetvalue(res, 0, 1), NULL, 10) - rp->total;
    if (!dry_run) {
        snprintf(sql, sizeof(sql),
                 "DECLARE replay_cursor NO SCROLL CURSOR FOR SELECT id::text,"
                 " COALESCE(body, payload::text), request_id, body IS NULL, %s"
                 " FROM hookpipe.events WHERE true%s%s%s ORDER BY received_at, id",
                 has_provider ? "headers::text" : "NULL::text", q->where,
                 has_provider ? " AND " : "", only);
        if (!ctl_pg_query(pg, &res, "reading events", sql, q->nparams, q->params, 0))
            goto done;
    }
    ret = 0;
done:
    PQclear(res);
    return ret;
}

/* libcurl's global state (and SIGPIPE ignored: a closed connection is an error, not a death). */
static int replay_curl_init(void)
{
    char cerr[256];

    signal(SIGPIPE, SIG_IGN);
    if (http_client_global_init(cerr, sizeof(cerr)) < 0) {
        ctl_err("replay: %s", cerr);
        return -1;
    }
    return 0;
}

/* Starts the senders (rp->nsenders asked; as many as started) and, on a terminal, the bar. */
static void replay_start(struct replay *rp)
{
    long want = rp->nsenders;

    rp->tty = isatty(STDERR_FILENO) == 1;
    rp->started = monotonic_s();
    pthread_mutex_init(&rp->mu, NULL);
    pthread_cond_init(&rp->not_empty, NULL);
    pthread_cond_init(&rp->not_full, NULL);
    pthread_cond_init(&rp->tick, NULL);
    for (rp->nsenders = 0; rp->nsenders < want; rp->nsenders++) {
        if (pthread_create(&rp->senders[rp->nsenders], NULL, replay_sender, rp) != 0) {
            ctl_err("replay: cannot start a thread");
            break;
        }
    }
    if (rp->tty && rp->nsenders > 0)
        rp->progress_started = pthread_create(&rp->progress, NULL, replay_progress, rp) == 0;
}

/* One fetched row as a job, or NULL when out of memory. */
static struct replay_job *replay_job_new(const struct replay *rp, PGresult *res, int i)
{
    struct replay_job *j = calloc(1, sizeof(*j));

    if (j == NULL || (j->body = malloc((size_t)PQgetlength(res, i, 1) + 1)) == NULL ||
        replay_headers_parse(rp->provider, PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
                             (size_t)PQgetlength(res, i, 4), &j->carried) < 0) {
        replay_job_free(j);
        return NULL;
    }
    snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(res, i, 0));
    j->len = (size_t)PQgetlength(res, i, 1);
    memcpy(j->body, PQgetvalue(res, i, 1), j->len + 1);
    j->request_id = PQgetisnull(res, i, 2) ? NULL : replay_request_id(PQgetvalue(res, i, 2));
    return j;
}

/*
 * Reads the cursor REPLAY_FETCH rows at a time into the queue until it is drained (or a
 * read fails, or memory runs out), then tells the senders no more is coming.
 */
static void replay_feed(struct replay *rp, PGconn *pg)
{
    while (rp->nsenders > 0) {
        PGresult *res = PQexec(pg, "FETCH " REPLAY_STR(REPLAY_FETCH) " FROM replay_cursor");
        int n;
        if (!ctl_pg_ok(pg, res, "reading events")) {
            PQclear(res);
            break;
        }
        n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            struct replay_job *j = replay_job_new(rp, res, i);
            if (j == NULL) {
                ctl_err("out of memory");
                n = 0;
                break;
            }
            rp->canonical += PQgetvalue(res, i, 3)[0] == 't';
            replay_put(rp, j);
        }
        PQclear(res);
        if (n < REPLAY_FETCH)
            break;
    }
    pthread_mutex_lock(&rp->mu);
    rp->producer_done = true;
    pthread_cond_broadcast(&rp->not_empty);
    pthread_mutex_unlock(&rp->mu);
}

/* Waits for the senders, then stops the progress bar and releases the queue's locks. */
static void replay_stop(struct replay *rp)
{
    for (long i = 0; i < rp->nsenders; i++)
        pthread_join(rp->senders[i], NULL);
    pthread_mutex_lock(&rp->mu);
    rp->finished = true;
    pthread_cond_signal(&rp->tick);
    pthread_mutex_unlock(&rp->mu);
    if (rp->progress_started)
        pthread_join(rp->progress, NULL);
    pthread_mutex_destroy(&rp->mu);
    pthread_cond_destroy(&rp->not_empty);
    pthread_cond_destroy(&rp->not_full);
    pthread_cond_destroy(&rp->tick);
}

/* The summary line on stdout; CTL_OK only when every event got a 2xx. */
static int replay_summary(struct replay *rp)
{
    unsigned long long ok = atomic_load(&rp->ok), failed = atomic_load(&rp->failed);
    unsigned long long retried = atomic_load(&rp->retried);
    double el = monotonic_s() - rp->started;
    char dur[32];

    progress_duration(el, dur, sizeof(dur));
    printf("replay: %llu of %llu event%s sent to %s: %llu ok, %llu failed, %llu retr%s, %s, "
           "%.1f/s",
           ok + failed, rp->total, rp->total == 1 ? "" : "s", rp->to, ok, failed, retried,
           retried == 1 ? "y" : "ies", dur, el > 0 ? (double)(ok + failed) / el : 0.0);
    if (rp->canonical > 0)
        printf("; %llu sent as canonical JSON (no stored body: their event_key differs)",
               rp->canonical);
    putchar('\n');
    return ok == rp->total && failed == 0 ? CTL_OK : CTL_FAIL;
}

/*
 * The provider of the events replayed, which is the target's: --provider, else the provider
 * of --source's [source.NAME] in the config, else zoom. 0, or -1 after one line.
 */
static int replay_provider(const struct ctl *ctl, const struct replay_args *a,
                           enum provider_id *out)
{
    const char *name = "zoom";
    char known[128] = "";
    int id;

    if (a->provider != NULL) {
        name = a->provider;
    } else if (a->source != NULL) {
        for (size_t i = 0; i < ctl->cfg->nsources; i++) {
            const struct config_source *src = &ctl->cfg->sources[i];
            if (strcmp(src->name, a->source) == 0 && src->provider != NULL)
                name = src->provider;
        }
    }
    id = provider_find(name, strlen(name));
    if (id < 0) {
        for (int i = 0; i < PROVIDER_COUNT; i++)
            snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
                     provider_get((enum provider_id)i)->name);
        ctl_err("replay: unknown --provider \"%s\" (one of %s)", name, known);
        return -1;
    }
    *out = (enum provider_id)id;
    return 0;
}

/* The target's secret as rp->provider's signing key (none for a dry run without one). */
static int replay_key(const char *secret, struct replay *rp)
{
    const char *why;

    if (secret == NULL)
        return 0;
    if (provider_sign_key_init(&rp->key, rp->provider, secret, strlen(secret), &why) < 0) {
        ctl_err("replay: the secret cannot sign as %s: %s", provider_get(rp->provider)->name, why);
        return -1;
    }
    return 0;
}

int ctl_replay(const struct ctl *ctl, int argc, char **argv)
{
    static struct replay rp; /* large (the queue); one replay per process */
    struct replay_args a;
    struct replay_query q;
    char *secret = NULL;
    PGconn *pg = NULL;
    bool curl_ready = false;
    int ret;

    memset(&rp, 0, sizeof(rp));
    memset(&q, 0, sizeof(q));
    ret = replay_options(argc, argv, &a, &rp);
    if (ret != CTL_OK)
        return ret;
    ret = CTL_USAGE;
    if (replay_provider(ctl, &a, &rp.provider) < 0 || replay_where(ctl, &a, &q) < 0 ||
        replay_secret(&a, &secret) < 0 || replay_key(secret, &rp) < 0 || replay_tls_check(&a) < 0)
        goto done;
    ret = CTL_FAIL;
    pg = ctl_pg_connect(ctl);
    if (pg == NULL || replay_open(pg, &q, a.dry_run, &rp) < 0)
        goto done;
    if (rp.others > 0)
        ctl_err("replay: %llu event%s of other providers than %s in the selection left out "
                "(one replay sends one provider's events: choose with --provider or --source)",
                rp.others, rp.others == 1 ? "" : "s", provider_get(rp.provider)->name);
    if (a.dry_run) {
        printf("replay (dry run): %llu event%s would be sent to %s", rp.total,
               rp.total == 1 ? "" : "s", a.to);
        if (rp.provider != PROVIDER_ZOOM)
            printf(", signed as %s", provider_get(rp.provider)->name);
        putchar('\n');
        ret = CTL_OK;
        goto done;
    }
    if (replay_curl_init() < 0)
        goto done;
    curl_ready = true;
    replay_start(&rp);
    replay_feed(&rp, pg);
    replay_stop(&rp);
    ret = replay_summary(&rp);
done:
    PQfinish(pg);
    if (curl_ready)
        http_client_global_cleanup();
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    provider_sign_key_wipe(&rp.key);
    free(q.like);
    return ret;
}
