// Adds or deletes a SCRAM-SHA-512 user of a Kafka cluster through the Admin API
// (AlterUserScramCredentials), for the per-run users of the kafka-secure tests. Run from source with
// the broker's own jars: java -cp '<lib>/*' ScramUser.java <bootstrap> <user> upsert|delete
// The password of `upsert` is read from standard input, so it never is on a command line.
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class ScramUser {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) throw new IllegalArgumentException("usage: ScramUser <bootstrap> <user> upsert|delete");
    Properties config = new Properties();
    config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
    config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
    UserScramCredentialAlteration alteration;
    switch (args[2]) {
      case "upsert" -> {
        String password = new String(System.in.readAllBytes(), StandardCharsets.UTF_8).strip();
        if (password.isEmpty()) throw new IllegalArgumentException("no password on standard input");
        alteration = new UserScramCredentialUpsertion(
            args[1], new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password);
      }
      case "delete" -> alteration = new UserScramCredentialDeletion(args[1], ScramMechanism.SCRAM_SHA_512);
      default -> throw new IllegalArgumentException("action must be upsert or delete, got " + args[2]);
    }
    try (Admin admin = Admin.create(config)) {
      admin.alterUserScramCredentials(List.of(alteration)).all().get();
    }
  }
}
