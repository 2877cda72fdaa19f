"""sim_cell on real DDS: a reshuffle never lays the next heap under a pick that is under way."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.ros


def test_a_reshuffle_during_a_pick_is_refused_until_its_verdict(ros) -> None:
    """Launched for real, a reshuffle called while the executor picked was served before the
    executor's result: trial 0's successful pick was judged on trial 1's heap ("nothing held")."""
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile
    from std_msgs.msg import String
    from std_srvs.srv import SetBool, Trigger

    from dense_descriptor_ros.ros.nodes.sim_cell import SimCellNode

    cell = ros.add(SimCellNode(context=ros.context, parameter_overrides=[
        Parameter("width", value=64), Parameter("height", value=48), Parameter("rate", value=1.0)]))
    operator = ros.node("operator")
    vacuum = operator.create_client(SetBool, "vacuum")
    reshuffle = operator.create_client(Trigger, "/sim_cell/reshuffle")
    result_pub = operator.create_publisher(String, "execution/result", QoSProfile(depth=10))
    verdicts = []
    operator.create_subscription(String, "sim_cell/pick", lambda m: verdicts.append(json.loads(m.data)),
                                 QoSProfile(depth=10))

    def call(client, request):
        assert ros.spin_until(client.service_is_ready, 10.0), f"{client.srv_name} not available"
        future = client.call_async(request)
        assert ros.spin_until(future.done, 10.0), f"{client.srv_name} did not answer"
        return future.result()

    assert call(vacuum, SetBool.Request(data=True)).success  # the executor's pick has begun
    refused = call(reshuffle, Trigger.Request())
    assert not refused.success and "under way" in refused.message and cell.cell.index == 0
    assert ros.spin_until(lambda: result_pub.get_subscription_count() > 0, 10.0)
    result_pub.publish(String(data=json.dumps({
        "code": "execution_failed", "detail": "test",
        "grasp": {"position": [0.0, 0.0, 0.1], "orientation_xyzw": [1.0, 0.0, 0.0, 0.0], "frame": "world"}})))
    assert ros.spin_until(lambda: verdicts, 10.0), "no verdict"
    assert verdicts[0]["index"] == 0 and not verdicts[0]["success"]  # judged on the heap it was picked from
    laid = call(reshuffle, Trigger.Request())
    assert laid.success and json.loads(laid.message)["trial"] == 1 and cell.cell.index == 1
    assert call(reshuffle, Trigger.Request()).success and cell.cell.index == 2  # nothing under way now
