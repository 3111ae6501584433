/* mqadmin: RocketMQ's admin command line, the subcommands Loulan has so far, with RocketMQ's
 * flags and output lines. `mqadmin` alone lists them; `mqadmin help CMD` explains one.
 * Name server from -n or NAMESRV_ADDR. Every error is one line on stderr and exit status 1.
 * This file is the command table and dispatch; the commands live in cmd_<group>.c. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mqadmin.h"

typedef struct cmd {
    const char *name, *help, *usage;
    int (*run)(int argc, char **argv);
} cmd_t;

static const cmd_t k_cmds[] = {
    {"topicStatus", "Examine topic Status info", "mqadmin topicStatus -t topic [-n namesrvAddr]", cmd_topic_status},
    {"clusterList", "List cluster infos", "mqadmin clusterList [-c clusterName] [-m (more stats)] [-n namesrvAddr]", cmd_cluster_list},
    {"topicList", "Fetch all topic list from name server", "mqadmin topicList [-n namesrvAddr]", cmd_topic_list},
    {"topicRoute", "Examine topic route info", "mqadmin topicRoute -t topic [-n namesrvAddr]", cmd_topic_route},
    {"updateTopic", "Update or create topic",
     "mqadmin updateTopic -t topic (-b brokerAddr | -c clusterName) [-r readQueueNums] [-w writeQueueNums] [-p perm] [-o order] [-a attributes] [-n namesrvAddr]",
     cmd_update_topic},
    {"deleteTopic", "Delete topic from broker and NameServer.", "mqadmin deleteTopic -t topic -c clusterName [-n namesrvAddr]", cmd_delete_topic},
    {"updateSubGroup", "Update or create subscription group",
     "mqadmin updateSubGroup -g groupName (-b brokerAddr | -c clusterName) [-s consumeEnable] [-m consumeFromMinEnable] [-d consumeBroadcastEnable] [-o consumeMessageOrderly] [-q retryQueueNums] [-r retryMaxTimes] [-i brokerId] [-w whichBrokerWhenConsumeSlowly] [-a notifyConsumerIdsChanged] [-n namesrvAddr]",
     cmd_update_sub_group},
    {"deleteSubGroup", "Delete subscription group from broker.",
     "mqadmin deleteSubGroup -g groupName (-b brokerAddr | -c clusterName) [-r removeOffset] [-n namesrvAddr]", cmd_delete_sub_group},
    {"consumerProgress", "Query consumers's progress, speed", "mqadmin consumerProgress -g groupName [-s showClientIP (true|false)] [-n namesrvAddr]", cmd_consumer_progress},
    {"consumerConnection", "Query consumer's socket connection, client version and subscription",
     "mqadmin consumerConnection -g consumerGroup [-b brokerAddr] [-n namesrvAddr]", cmd_consumer_connection},
    {"consumerStatus", "Query consumer's internal data structure",
     "mqadmin consumerStatus -g consumerGroup [-i clientId] [-b brokerAddr] [-s (jstack)] [-n namesrvAddr]", cmd_consumer_status},
    {"producerConnection", "Query producer's socket connection and client version",
     "mqadmin producerConnection -g producerGroup -t topic [-n namesrvAddr]", cmd_producer_connection},
    {"brokerStatus", "Fetch broker runtime status data", "mqadmin brokerStatus (-b brokerAddr | -c clusterName) [-n namesrvAddr]", cmd_broker_status},
    {"getBrokerConfig", "Get broker config by cluster or special broker!",
     "mqadmin getBrokerConfig (-b brokerAddr | -c clusterName) [-n namesrvAddr]", cmd_get_broker_config},
    {"updateBrokerConfig", "Update broker's config",
     "mqadmin updateBrokerConfig -k key -v value (-b brokerAddr | -c clusterName) [-n namesrvAddr]", cmd_update_broker_config},
    {"sendMessage", "Send a message", "mqadmin sendMessage -t topic -p body [-k keys] [-c tags] [-b brokerName -i queueId] [-n namesrvAddr]", cmd_send_message},
    {"queryMsgByKey", "Query Message by Key", "mqadmin queryMsgByKey -t topic -k msgKey [-n namesrvAddr]", cmd_query_msg_by_key},
    {"queryMsgById", "Query Message by Id",
     "mqadmin queryMsgById -i msgId[,msgId...] [-t topic (for a UNIQ_KEY msgId)] [-n namesrvAddr]", cmd_query_msg_by_id},
    {"queryMsgByOffset", "Query Message by offset",
     "mqadmin queryMsgByOffset -t topic -b brokerName -i queueId -o offset [-n namesrvAddr]", cmd_query_msg_by_offset},
    {"printMsg", "Print Message Detail", "mqadmin printMsg -t topic [-s subExpression] [-d printBody] [-n namesrvAddr]", cmd_print_messages},
    {"consumeMessage", "Consume message",
     "mqadmin consumeMessage -t topic [-b brokerName -i queueId [-o offset]] [-c count] [-n namesrvAddr]", cmd_consume_messages},
    {"statsAll", "Topic and Consumer tps stats", "mqadmin statsAll [-a activeTopic] [-t topic] [-n namesrvAddr]", cmd_stats_all},
    {"resetOffsetByTime", "Reset consumer offset by timestamp(without client restart).",
     "mqadmin resetOffsetByTime -g group -t topic -s timestamp [-f force] [-n namesrvAddr]", cmd_reset_offset_by_time},
    {"brokerConsumeStats", "Fetch broker consume stats data",
     "mqadmin brokerConsumeStats -b brokerAddr [-t timeoutMillis] [-l diffLevel] [-o order] [-n namesrvAddr]",
     cmd_broker_consume_stats},
    {"queryCq", "Query cq command.", "mqadmin queryCq -t topic -q queueId -i index [-c count] [-b brokerAddr] [-g consumerGroup] [-n namesrvAddr]",
     cmd_query_cq},
    {"cloneGroupOffset", "clone offset from other group.",
     "mqadmin cloneGroupOffset -s srcGroup -d destGroup -t topic [-o offline] [-n namesrvAddr]", cmd_clone_group_offset},
    {"cleanExpiredCQ", "Clean expired ConsumeQueue on broker.", "mqadmin cleanExpiredCQ [-b brokerAddr | -c clusterName] [-n namesrvAddr]",
     cmd_clean_expired_cq},
    {"cleanUnusedTopic", "Clean unused topic on broker.", "mqadmin cleanUnusedTopic [-b brokerAddr | -c clusterName] [-n namesrvAddr]",
     cmd_clean_unused_topic},
    {"deleteExpiredCommitLog", "Delete expired CommitLog files",
     "mqadmin deleteExpiredCommitLog [-b brokerAddr | -c clusterName] [-n namesrvAddr]", cmd_delete_expired_commitlog},
    {"skipAccumulatedMessage", "Skip all messages that are accumulated (not consumed) currently",
     "mqadmin skipAccumulatedMessage -g group -t topic [-f force] [-n namesrvAddr]", cmd_skip_accumulated},
    {"updateTopicPerm", "Update topic perm", "mqadmin updateTopicPerm -t topic -p perm (-b brokerAddr | -c clusterName) [-n namesrvAddr]",
     cmd_update_topic_perm},
    {"decodeMessageId", "decode unique message ID", "mqadmin decodeMessageId -i messageId", cmd_decode_message_id},
    {"getConsumerConfig", "Get consumer config by subscription group name!", "mqadmin getConsumerConfig -g groupName [-n namesrvAddr]",
     cmd_get_consumer_config},
    {"queryMsgByUniqueKey", "Query Message by Unique key", "mqadmin queryMsgByUniqueKey -i msgId -t topic [-n namesrvAddr]",
     cmd_query_msg_by_unique_key},
    {"wipeWritePerm", "Wipe write perm of broker in all name server you defined in the -n param",
     "mqadmin wipeWritePerm -b brokerName [-n namesrvAddr]", cmd_wipe_write_perm},
    {"addWritePerm", "Add write perm of broker in all name server you defined in the -n param",
     "mqadmin addWritePerm -b brokerName [-n namesrvAddr]", cmd_add_write_perm},
    {"getNamesrvConfig", "Get configs of name server.", "mqadmin getNamesrvConfig [-n namesrvAddr]", cmd_get_namesrv_config},
    {"updateNamesrvConfig", "Update configs of name server.", "mqadmin updateNamesrvConfig -k key -v value [-n namesrvAddr]",
     cmd_update_namesrv_config},
    {"updateKvConfig", "Create or update KV config.", "mqadmin updateKvConfig -s namespace -k key -v value [-n namesrvAddr]",
     cmd_update_kv_config},
    {"deleteKvConfig", "Delete KV config.", "mqadmin deleteKvConfig -s namespace -k key [-n namesrvAddr]", cmd_delete_kv_config},
    {"topicClusterList", "get cluster info for topic", "mqadmin topicClusterList -t topic [-n namesrvAddr]",
     cmd_topic_cluster_list},
    {"leadershipTransfer", "Hand a DLedger group's leadership to one of its members",
     "mqadmin leadershipTransfer -b brokerName -t transfereeId (a dLegerPeers id, e.g. n1) [-n namesrvAddr]",
     cmd_leadership_transfer},
    {"updateAclConfig", "Update acl config yaml file in broker",
     "mqadmin updateAclConfig -a accessKey -s secretKey (-b brokerAddr | -c clusterName) [-w whiteRemoteAddress] [-i defaultTopicPerm] [-u defaultGroupPerm] [-t topicPerms] [-g groupPerms] [-m admin] [-n namesrvAddr]",
     cmd_update_acl_config},
    {"deleteAclConfig", "Delete Acl Config Account in broker",
     "mqadmin deleteAclConfig -a accessKey (-b brokerAddr | -c clusterName) [-n namesrvAddr]", cmd_delete_acl_config},
    {"deleteAccessConfig", "Delete Acl Config Account in broker (the alias of deleteAclConfig)",
     "mqadmin deleteAccessConfig -a accessKey (-b brokerAddr | -c clusterName) [-n namesrvAddr]", cmd_delete_acl_config},
    {"clusterAclConfigVersion", "List all of acl config version information in cluster",
     "mqadmin clusterAclConfigVersion (-b brokerAddr | -c clusterName) [-n namesrvAddr]", cmd_cluster_acl_config_version},
    {"updateGlobalWhiteAddr", "Update global white address for acl Config File in broker",
     "mqadmin updateGlobalWhiteAddr -g globalWhiteRemoteAddresses (-b brokerAddr | -c clusterName) [-p aclFileFullPath] [-n namesrvAddr]",
     cmd_update_global_white_addr},
    {"queryMsgTraceById", "query a message trace", "mqadmin queryMsgTraceById -i msgId [-t traceTopic] [-n namesrvAddr]",
     cmd_query_msg_trace_by_id},
};

#define NCMDS (sizeof k_cmds / sizeof k_cmds[0])

static void list(void)
{
    printf("The most commonly used mqadmin commands are:\n");
    for (size_t i = 0; i < NCMDS; i++)
        printf("   %-20s %s\n", k_cmds[i].name, k_cmds[i].help);
    printf("\nSee 'mqadmin help <command>' for more information on a specific command.\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    cm_log_open(NULL, "mqadmin", 0); /* errors are our own one-line messages, not library logs */
    if (ma_tls_init())
        return 1;
    if (argc < 2) {
        list();
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        for (size_t i = 0; argc > 2 && i < NCMDS; i++)
            if (strcmp(argv[2], k_cmds[i].name) == 0) {
                printf("%s\nusage: %s\n", k_cmds[i].help, k_cmds[i].usage);
                return 0;
            }
        list();
        return argc > 2 ? 1 : 0;
    }
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(argv[1], k_cmds[i].name) == 0)
            return k_cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mqadmin: The sub command %s not exist.\n", argv[1]);
    return 1;
}
