CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE published (
	target TEXT NOT NULL, 
	id TEXT NOT NULL, 
	url TEXT NOT NULL, 
	lang TEXT NOT NULL, 
	modified TEXT NOT NULL, topics TEXT, 
	PRIMARY KEY (target, id)
);
CREATE TABLE changes (
	target TEXT NOT NULL, 
	seq INTEGER NOT NULL, 
	at TEXT NOT NULL, 
	event TEXT NOT NULL, 
	id TEXT NOT NULL, 
	url TEXT NOT NULL, 
	lang TEXT NOT NULL, 
	modified TEXT, 
	PRIMARY KEY (target, seq), 
	CONSTRAINT changes_event CHECK (event IN ('published', 'updated', 'withdrawn'))
);
CREATE TABLE sequence (
	target TEXT NOT NULL, 
	last_seq INTEGER NOT NULL, 
	PRIMARY KEY (target)
);
CREATE TABLE editions (
	newsletter TEXT NOT NULL, 
	edition TEXT NOT NULL, 
	scheduled_at TEXT NOT NULL, 
	window_start TEXT NOT NULL, 
	made_at TEXT NOT NULL, 
	PRIMARY KEY (newsletter, edition)
);
CREATE TABLE edition_entries (
	newsletter TEXT NOT NULL, 
	edition TEXT NOT NULL, 
	position INTEGER NOT NULL, 
	kind TEXT NOT NULL, 
	item_id TEXT NOT NULL, 
	modified TEXT, 
	title TEXT NOT NULL, 
	url TEXT NOT NULL, 
	lang TEXT NOT NULL, 
	topics TEXT NOT NULL, 
	PRIMARY KEY (newsletter, edition, position), 
	CONSTRAINT edition_entries_kind CHECK (kind IN ('new', 'updated', 'withdrawn'))
);
CREATE TABLE subscribers (
	id INTEGER NOT NULL, 
	email TEXT NOT NULL, 
	name TEXT DEFAULT '' NOT NULL, 
	language TEXT NOT NULL, 
	token_key TEXT NOT NULL, 
	hard_bounces INTEGER DEFAULT '0' NOT NULL, 
	created_at TEXT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (email), 
	UNIQUE (token_key)
);
CREATE TABLE subscriptions (
	subscriber_id INTEGER NOT NULL, 
	newsletter TEXT NOT NULL, 
	topics TEXT DEFAULT '' NOT NULL, 
	status TEXT NOT NULL, 
	updated_at TEXT NOT NULL, 
	PRIMARY KEY (subscriber_id, newsletter), 
	CONSTRAINT subscriptions_status CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')), 
	FOREIGN KEY(subscriber_id) REFERENCES subscribers (id) ON DELETE CASCADE
);
CREATE TABLE consents (
	id INTEGER NOT NULL, 
	subscriber_id INTEGER NOT NULL, 
	newsletter TEXT NOT NULL, 
	action TEXT NOT NULL, 
	source TEXT NOT NULL, 
	at TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(subscriber_id) REFERENCES subscribers (id) ON DELETE CASCADE
);
CREATE INDEX consents_subscriber ON consents (subscriber_id);
CREATE TABLE forgotten (
	email_hash TEXT NOT NULL, 
	at TEXT NOT NULL, 
	PRIMARY KEY (email_hash)
);
CREATE TABLE sends (
	newsletter TEXT NOT NULL, 
	edition TEXT NOT NULL, 
	subscriber_id INTEGER NOT NULL, 
	status TEXT NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	message_id TEXT, 
	error TEXT, 
	updated_at TEXT NOT NULL, lease_owner TEXT, lease_until TEXT, 
	PRIMARY KEY (newsletter, edition, subscriber_id), 
	CONSTRAINT sends_status CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped')), 
	FOREIGN KEY(subscriber_id) REFERENCES subscribers (id) ON DELETE CASCADE
);
CREATE TABLE events (
	id INTEGER NOT NULL, 
	target TEXT NOT NULL, 
	type TEXT NOT NULL, 
	subject TEXT NOT NULL, 
	at TEXT NOT NULL, 
	data TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE deliveries (
	event_id INTEGER NOT NULL, 
	handler TEXT NOT NULL, 
	status TEXT NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	next_at TEXT NOT NULL, 
	error TEXT, 
	PRIMARY KEY (event_id, handler), 
	CONSTRAINT deliveries_status CHECK (status IN ('pending', 'done', 'failed')), 
	FOREIGN KEY(event_id) REFERENCES events (id) ON DELETE CASCADE
);
CREATE TABLE delivery_attempts (
	id INTEGER NOT NULL, 
	event_id INTEGER NOT NULL, 
	handler TEXT NOT NULL, 
	attempt INTEGER NOT NULL, 
	at TEXT NOT NULL, 
	outcome TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(event_id) REFERENCES events (id) ON DELETE CASCADE
);
CREATE TABLE ingest_sources (
	source TEXT NOT NULL, 
	etag TEXT, 
	last_modified TEXT, 
	last_fetch TEXT, 
	last_success TEXT, 
	failures INTEGER DEFAULT '0' NOT NULL, 
	last_error TEXT, 
	retry_at TEXT, 
	settings TEXT, 
	PRIMARY KEY (source)
);
CREATE TABLE ingest_entries (
	source TEXT NOT NULL, 
	entry TEXT NOT NULL, 
	path TEXT NOT NULL, 
	upstream TEXT NOT NULL, 
	base TEXT NOT NULL, 
	seen_at TEXT NOT NULL, 
	PRIMARY KEY (source, entry)
);
CREATE INDEX sends_open ON sends (newsletter, edition, status);
CREATE INDEX sends_leases ON sends (lease_owner) WHERE status IN ('queued', 'sending');
CREATE TABLE workers (
	id TEXT NOT NULL, 
	started_at TEXT NOT NULL, 
	seen_at TEXT NOT NULL, 
	alive_until TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE scheduler_jobs (
	id VARCHAR(191) NOT NULL, 
	next_run_time FLOAT, 
	job_state BLOB NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_scheduler_jobs_next_run_time ON scheduler_jobs (next_run_time);
