"""Set the password of a fresh Neo4j server (its first login as neo4j/neo4j must change
it), or check it on later starts. Usage: NEO4J_PASSWORD=... password.py bolt://host:port"""

import os
import sys
import time

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable

uri, password = sys.argv[1], os.environ["NEO4J_PASSWORD"]
for _ in range(60):
    try:
        with GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
            driver.verify_connectivity()
        sys.exit(0)
    except AuthError:
        with GraphDatabase.driver(uri, auth=("neo4j", "neo4j")) as driver:
            driver.execute_query(
                "ALTER CURRENT USER SET PASSWORD FROM 'neo4j' TO $password",
                password=password,
                database_="system",
            )
        sys.exit(0)
    except (ServiceUnavailable, ClientError, OSError):
        time.sleep(1)
sys.exit("neo4j: the server did not accept logins within 60 s")
