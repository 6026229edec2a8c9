"""lateen.registry"""
