# Reads every topic of one test run with confluent-kafka 1.7 (librdkafka, read_committed) and
# its own Avro decoder (MessageSerializer + CachedSchemaRegistryClient); keys as UTF-8.
import sys
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.avro.cached_schema_registry_client import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

boot, registry_url, prefix = sys.argv[1:4]
admin = AdminClient({"bootstrap.servers": boot})
topics = sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix))
ser = MessageSerializer(CachedSchemaRegistryClient({"url": registry_url}))
total = 0
bad = []
for t in topics:
    c = Consumer({"bootstrap.servers": boot, "group.id": f"interop-{t}", "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "enable.partition.eof": True})
    md = admin.list_topics(t, timeout=10).topics[t]
    parts = list(md.partitions)
    c.assign([TopicPartition(t, p, 0) for p in parts])
    eof = set(); n = 0; tomb = 0
    while len(eof) < len(parts):
        m = c.poll(5.0)
        if m is None:
            break
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition()); continue
            raise Exception(m.error())
        key = m.key().decode("utf-8") if m.key() is not None else None
        if key is not None and key.startswith("\x00"):
            bad.append((t, m.offset(), "key starts with a zero byte"))
        if m.value() is None:
            tomb += 1
        else:
            try:
                v = ser.decode_message(m.value())
                assert isinstance(v, dict), type(v)
            except Exception as e:
                bad.append((t, m.offset(), repr(e)))
        n += 1
    c.close()
    total += n
    print(f"{t}: {n} records ({tomb} tombstones) decoded")
print(f"{len(topics)} topics, {total} records, {len(bad)} failures")
for b in bad[:10]:
    print("FAIL", b)
sys.exit(1 if bad or not topics else 0)
