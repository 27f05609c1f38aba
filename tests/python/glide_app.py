"""valkey-glide connects with HELLO 3 and reads INFO REPLICATION; then ordinary commands."""
import asyncio
import sys

from glide import GlideClient, GlideClientConfiguration, NodeAddress


async def main(port):
    config = GlideClientConfiguration([NodeAddress("127.0.0.1", port)], request_timeout=5000)
    client = await GlideClient.create(config)
    assert await client.set("glide:k", "v") == "OK"
    assert await client.get("glide:k") == b"v"
    assert await client.incr("glide:n") == 1
    assert await client.mget(["glide:k", "glide:none"]) == [b"v", None]
    assert await client.delete(["glide:k"]) == 1
    assert await client.exists(["glide:k"]) == 0
    await client.close()
    print("glide ok")


asyncio.run(main(int(sys.argv[1])))
