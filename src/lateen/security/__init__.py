"""lateen.security"""
